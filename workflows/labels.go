package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	coffer "github.com/coffer-dbaas/coffer"
)

// labels are what Temporal shows of a run besides its ID: the search attributes an
// operator filters by, and the static summary and details the Web UI shows above the
// history and `temporal workflow describe` prints, which name the instance, its project
// and what the operation changes ("resize volume of opsdemo from 1 to 2 GiB"), so that no
// one has to map UUIDs by hand. Like every payload they are encrypted by the codec: the
// codec server shows them.
type labels struct {
	attrs   temporal.SearchAttributes
	summary string
	details string
}

// instanceLabels are the labels of an operation on an instance: name may be empty (then
// the ID names it), change says what the operation changes, in an operator's words.
func instanceLabels(instanceID, name, projectID, operation, change string) labels {
	who := name
	if who == "" {
		who = instanceID
	}
	summary := operation + " of " + who
	if change != "" {
		summary += " " + change
	}
	var d strings.Builder
	fmt.Fprintf(&d, "**%s** of instance **%s**\n\n", operation, who)
	fmt.Fprintf(&d, "- instance: `%s`\n- project: `%s`\n", instanceID, projectID)
	if change != "" {
		fmt.Fprintf(&d, "- change: %s\n", change)
	}
	d.WriteString("\nSteps and their progress: the `progress` query. A parked step waits for the `retry`, `skip` or `abort` update (or signal).")
	return labels{attrs: searchAttributes(instanceID, projectID, operation), summary: summary, details: d.String()}
}

// sizeChange says what a volume resize changes.
func sizeChange(from, to int) string {
	if from <= 0 {
		return fmt.Sprintf("to %d GiB", to)
	}
	return fmt.Sprintf("from %d to %d GiB", from, to)
}

// accessChange says what an access update changes.
func accessChange(a coffer.Access) string {
	if len(a.AllowedCIDRs) == 0 {
		return "to any source"
	}
	return "to " + strings.Join(a.AllowedCIDRs, ", ")
}
