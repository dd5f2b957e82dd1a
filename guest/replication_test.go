package guest

import (
	"encoding/json"
	"testing"
)

// A position travels as a string; the histories of switchovers from before positions were
// engine-neutral hold StopWrites's answer and WaitReplay's input as an LSN's number, which
// must read as that LSN.
func TestPositionReadsStringsAndFormerLSNNumbers(t *testing.T) {
	for in, want := range map[string]Position{
		`"0-1-42"`:    "0-1-42",
		`"0/3000060"`: "0/3000060",
		`50331744`:    "0/3000060",
		`4294967296`:  "1/0",
		`null`:        "",
	} {
		var p Position
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			t.Fatalf("unmarshal %s: %v", in, err)
		}
		if p != want {
			t.Errorf("unmarshal %s: got %q, want %q", in, p, want)
		}
	}
	var in WaitReplayInput
	if err := json.Unmarshal([]byte(`{"lsn":50331744}`), &in); err != nil || in.Position != "0/3000060" {
		t.Errorf("a former WaitReplayInput: got %q, %v", in.Position, err)
	}
	b, _ := json.Marshal(WaitReplayInput{Position: "0-1-42"})
	if string(b) != `{"lsn":"0-1-42"}` {
		t.Errorf("marshal: got %s", b)
	}
	var p Position
	if err := json.Unmarshal([]byte(`-1`), &p); err == nil {
		t.Errorf("a negative number read as %q", p)
	}
}
