package workflows

import (
	"strings"
	"testing"
)

func TestLabelsNameTheInstanceAndTheChange(t *testing.T) {
	l := instanceLabels("4ab2", "opsdemo", "demo-project", "resize volume", sizeChange(1, 2))
	if want := "resize volume of opsdemo from 1 to 2 GiB"; l.summary != want {
		t.Errorf("summary: got %q, want %q", l.summary, want)
	}
	for _, want := range []string{"`4ab2`", "`demo-project`", "from 1 to 2 GiB"} {
		if !strings.Contains(l.details, want) {
			t.Errorf("details: got %q, want it to hold %s", l.details, want)
		}
	}
	if got := instanceLabels("4ab2", "", "p", "delete", "").summary; got != "delete of 4ab2" {
		t.Errorf("summary without a name: got %q, want the ID to name the instance", got)
	}
}
