package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEveryKeyBindsItsVariable sets every leaf of Config, found here by its own walk of the
// struct, through its COFFER_* variable alone, and checks that each arrives: a key added to
// the struct gets its variable without being listed anywhere else.
func TestEveryKeyBindsItsVariable(t *testing.T) {
	type setting struct {
		key   string
		env   string
		field []int
		want  any
	}
	var settings []setting
	var walk func(prefix string, index []int, typ reflect.Type)
	walk = func(prefix string, index []int, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			key := prefix + f.Tag.Get("mapstructure")
			idx := append(append([]int(nil), index...), i)
			if f.Type.Kind() == reflect.Struct {
				walk(key+".", idx, f.Type)
				continue
			}
			n := len(settings) + 1
			s := setting{key: key, env: "COFFER_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_")), field: idx}
			switch {
			case f.Type == reflect.TypeOf(time.Duration(0)):
				s.want = time.Duration(n) * time.Minute
			case f.Type.Kind() == reflect.String:
				s.want = fmt.Sprintf("value-%d", n)
			case f.Type.Kind() == reflect.Int:
				s.want = 1000 + n
			case f.Type.Kind() == reflect.Int64:
				s.want = int64(1000 + n)
			default:
				t.Fatalf("key %s has type %s, which this test does not know how to set", key, f.Type)
			}
			settings = append(settings, s)
		}
	}
	walk("", nil, reflect.TypeOf(Config{}))
	if len(settings) < 30 {
		t.Fatalf("found %d keys, want every key of Config (30 or more)", len(settings))
	}
	for _, s := range settings {
		val := fmt.Sprint(s.want)
		if d, ok := s.want.(time.Duration); ok {
			val = d.String()
		}
		t.Setenv(s.env, val)
	}
	c, err := read("", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := reflect.ValueOf(c)
	for _, s := range settings {
		if v := got.FieldByIndex(s.field).Interface(); v != s.want {
			t.Errorf("key %s from %s: got %v, want %v", s.key, s.env, v, s.want)
		}
	}
}
