package catalog

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Check reports whether v, a value as encoding/json decodes it (float64, bool, string),
// follows the parameter's rules, and names the rule it breaks.
func (p Parameter) Check(v any) error {
	switch p.DataType {
	case "integer":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) || math.IsInf(n, 0) {
			return fmt.Errorf("must be an integer, not %s", describe(v))
		}
		return p.checkRange(n)
	case "float":
		n, ok := v.(float64)
		if !ok {
			return fmt.Errorf("must be a number, not %s", describe(v))
		}
		return p.checkRange(n)
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("must be true or false, not %s", describe(v))
		}
		return nil
	case "string":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a string, not %s", describe(v))
		}
		if strings.ContainsFunc(s, unicode.IsControl) || len(s) > 1024 {
			return fmt.Errorf("must be at most 1024 characters with no control characters")
		}
		if len(p.Allowed) > 0 && !slices.Contains(p.Allowed, s) {
			return fmt.Errorf("must be one of %s, not %q", strings.Join(p.Allowed, ", "), s)
		}
		return nil
	}
	return fmt.Errorf("has an unknown type %s", p.DataType)
}

func (p Parameter) checkRange(n float64) error {
	unit := ""
	if p.Unit != "" {
		unit = " (in " + p.Unit + ")"
	}
	if p.Min != nil && n < *p.Min || p.Max != nil && n > *p.Max {
		switch {
		case p.Min != nil && p.Max != nil:
			return fmt.Errorf("must be between %s and %s%s, not %s", number(*p.Min), number(*p.Max), unit, number(n))
		case p.Min != nil:
			return fmt.Errorf("must be at least %s%s, not %s", number(*p.Min), unit, number(n))
		default:
			return fmt.Errorf("must be at most %s%s, not %s", number(*p.Max), unit, number(n))
		}
	}
	return nil
}

// Render writes a checked value as the engine reads it in its configuration file: numbers
// in the parameter's unit with no exponent, booleans as on or off.
func (p Parameter) Render(v any) string {
	switch v := v.(type) {
	case float64:
		return number(v)
	case bool:
		if v {
			return "on"
		}
		return "off"
	case string:
		return v
	}
	return fmt.Sprint(v)
}

func number(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case float64:
		return number(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
