package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"go.temporal.io/sdk/temporal"
)

// The activities' error vocabulary: the types (temporal.ApplicationError.Type) of the
// errors activities return, for workflows to branch on and operators to read. They are
// names, not Go errors: an error crosses into a workflow as an ApplicationError, and only
// its type survives. Each name means one thing.

// Error types of the non-retryable errors.
const (
	// ErrorTypeBadRequest: OpenStack answered 400, or an input cannot be served.
	ErrorTypeBadRequest = "BadRequest"
	// ErrorTypeForbidden: OpenStack answered 403.
	ErrorTypeForbidden = "Forbidden"
	// ErrorTypeCloudNotFound: OpenStack answered 404 for a resource the activity needed.
	ErrorTypeCloudNotFound = "CloudNotFound"
	// ErrorTypeNotInCatalog: the catalog has no record of the instance or backup.
	ErrorTypeNotInCatalog = "NotInCatalog"
	// ErrorTypeMonitorRetired: RecordHealth's answer to a monitor that still runs: guests
	// report their health to the gateway now (issue 19), and the monitor ends.
	ErrorTypeMonitorRetired = "MonitorRetired"
	// ErrorTypeConflict: OpenStack answered 409, or the record is in a state that forbids
	// the change (a backup still running).
	ErrorTypeConflict = "Conflict"
	// ErrorTypeQuotaExceeded: the control plane's project is over an OpenStack quota.
	ErrorTypeQuotaExceeded = "QuotaExceeded"
	// ErrorTypeServerFailed: Nova put the server in ERROR.
	ErrorTypeServerFailed = "ServerFailed"
	// ErrorTypeVolumeFailed: Cinder put the volume in error.
	ErrorTypeVolumeFailed = "VolumeFailed"
	// ErrorTypeImageNotFound: no Glance image has the datastore version's tag.
	ErrorTypeImageNotFound = "ImageNotFound"
	// ErrorTypeBackupsDisabled: no backup key is configured.
	ErrorTypeBackupsDisabled = "BackupsDisabled"
	// ErrorTypeInstanceBusy: a task or another backup holds the instance.
	ErrorTypeInstanceBusy = "InstanceBusy"
	// ErrorTypeBackupRunning: another backup holds the instance (a backup's record, its
	// claim, found one running); a kind of ErrorTypeInstanceBusy.
	ErrorTypeBackupRunning = "BackupRunning"
	// ErrorTypeNotReplicated: the instance is in no replication group.
	ErrorTypeNotReplicated = "NotReplicated"
	// ErrorTypeClaimTooLate: a workflow's claim of its instance's task came after its
	// window (ClaimTaskInput.NotAfter).
	ErrorTypeClaimTooLate = "ClaimTooLate"
	// ErrorTypeProjectQuotaExceeded: a tenant's project is over one of its Coffer quotas;
	// the error's details hold the []catalog.Quota exceeded.
	ErrorTypeProjectQuotaExceeded = "ProjectQuotaExceeded"
)

// Error types of retryable errors.
const (
	// ErrorTypeCloud is a failure a retry may mend: a 5xx, a timeout, a refused connection.
	ErrorTypeCloud = "CloudError"
	// ErrorTypeInUse is a resource that cannot go yet because another still uses it (a
	// security group with a port, a volume still attached, a server mid-task).
	ErrorTypeInUse = "InUse"
)

// cloudError turns an OpenStack error into what Temporal should do with it. what says what
// was being done, "create volume for instance <id>"; the message carries OpenStack's own
// explanation and the cause the whole response, for the fault's details.
func cloudError(err error, what string) error {
	if err == nil {
		return nil
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &code) {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: %w", what, err)
		}
		return temporal.NewApplicationError(what+": "+err.Error(), ErrorTypeCloud)
	}
	msg := fmt.Sprintf("%s: %s answered %d", what, serviceOf(code.URL), code.Actual)
	if m := openstackMessage(code.Body); m != "" {
		msg += ": " + m
	}
	nonRetryable := func(typ string) error { return temporal.NewNonRetryableApplicationError(msg, typ, err) }
	switch {
	case isQuota(code):
		return nonRetryable(ErrorTypeQuotaExceeded)
	case code.Actual == http.StatusBadRequest:
		return nonRetryable(ErrorTypeBadRequest)
	case code.Actual == http.StatusForbidden:
		return nonRetryable(ErrorTypeForbidden)
	case code.Actual == http.StatusNotFound:
		return nonRetryable(ErrorTypeCloudNotFound)
	case code.Actual == http.StatusConflict:
		return nonRetryable(ErrorTypeConflict)
	}
	return temporal.NewApplicationErrorWithCause(msg, ErrorTypeCloud, err)
}

// inUse is a retryable error for a delete that must wait for something else to go first.
func inUse(err error, what string) error {
	msg := what + ": still in use"
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		if m := openstackMessage(code.Body); m != "" {
			msg += ": " + m
		}
	}
	return temporal.NewApplicationErrorWithCause(msg, ErrorTypeInUse, err)
}

// isQuota: Cinder says 413, Nova 403 and Neutron 409, each with "quota" in the message.
func isQuota(code gophercloud.ErrUnexpectedResponseCode) bool {
	if code.Actual == http.StatusRequestEntityTooLarge {
		return true
	}
	if code.Actual == http.StatusForbidden || code.Actual == http.StatusConflict {
		return strings.Contains(strings.ToLower(string(code.Body)), "quota")
	}
	return false
}

// serviceOf names the OpenStack service a URL belongs to, from its path, for messages.
func serviceOf(url string) string {
	switch {
	case strings.Contains(url, "/compute/") || strings.Contains(url, "/servers"):
		return "nova"
	case strings.Contains(url, "/volume") && !strings.Contains(url, "/v2.0/"):
		return "cinder"
	case strings.Contains(url, "/image/") || strings.Contains(url, "/images"):
		return "glance"
	case strings.Contains(url, "/ports") || strings.Contains(url, "/security-group") || strings.Contains(url, "/networks"):
		return "neutron"
	}
	return "openstack"
}

// openstackMessage finds the human message in an OpenStack error body: Nova and Cinder say
// {"badRequest": {"message": ...}}, Neutron {"NeutronError": {"message": ...}}, Glance and
// Keystone {"error": {"message": ...}} or plain text.
func openstackMessage(body []byte) string {
	var wrapped map[string]json.RawMessage
	if err := json.Unmarshal(body, &wrapped); err == nil {
		for _, v := range wrapped {
			var inner struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(v, &inner) == nil && inner.Message != "" {
				return inner.Message
			}
		}
		var flat struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &flat) == nil && flat.Message != "" {
			return flat.Message
		}
		return ""
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
