package guest

import "go.temporal.io/sdk/workflow"

// The engine's logs, as Trove's guest log API shows them: a tenant turns a USER log on or
// off and publishes it into Swift, where `trove log-show` finds it.
const (
	// ListLogsActivity lists the logs the engine exposes ([]LogInfo), with how much of
	// each the agent has published.
	ListLogsActivity = "ListLogs"
	// SetLogActivity turns a USER log on or off (SetLogInput) and returns it (LogInfo). A
	// log name the engine does not expose is ErrNotFound; a SYS log cannot be turned off
	// (ErrInvalid).
	SetLogActivity = "SetLog"
	// PublishLogActivity streams what the log holds beyond what was published before into
	// one new object under the access' prefix (PublishLogInput), with the number of its
	// lines in X-Object-Meta-Lines as Trove's clients read it, and returns the log
	// (LogInfo). A disabled USER log is turned on first, as Trove does. A log that shrank
	// since (rotated) is published again from its start.
	PublishLogActivity = "PublishLog"
	// DiscardLogActivity forgets what was published of a log (LogRef), so that the next
	// publish starts from its beginning, and returns it (LogInfo). The control plane, which
	// alone may list the container, deletes the objects.
	DiscardLogActivity = "DiscardLog"
)

// Log types, as Trove names them: a tenant's USER logs, which the tenant turns on and off,
// and the SYS logs that are always on.
const (
	LogUser = "USER"
	LogSys  = "SYS"
)

// LogInfo is a log of the engine as the agent sees it.
type LogInfo struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Enabled bool   `json:"enabled"`
	// Size is how many bytes the log holds now; Published how many of them the agent
	// published since the last discard.
	Size      int64 `json:"size"`
	Published int64 `json:"published"`
}

// LogRef names a log.
type LogRef struct {
	Name string `json:"name"`
}

// SetLogInput is SetLog's input.
type SetLogInput struct {
	Name   string `json:"name"`
	Enable bool   `json:"enable"`
}

// PublishLogInput is PublishLog's input: the log, and where its new object goes (Object,
// under Swift.Prefix, in Container), which Swift.Put's signature lets the guest write.
type PublishLogInput struct {
	Name      string      `json:"name"`
	Swift     SwiftAccess `json:"swift"`
	Container string      `json:"container"`
	Object    string      `json:"object"`
}

// String keeps the signature out of logs and error messages.
func (in PublishLogInput) String() string {
	return "publish log " + in.Name + " to " + in.Container + "/" + in.Object
}

// PublishLog runs PublishLogActivity.
func (c Client) PublishLog(ctx workflow.Context, in PublishLogInput) (LogInfo, error) {
	var r LogInfo
	err := c.call(ctx, PublishLogActivity, &r, in)
	return r, err
}

// DiscardLog runs DiscardLogActivity.
func (c Client) DiscardLog(ctx workflow.Context, in LogRef) (LogInfo, error) {
	var r LogInfo
	err := c.call(ctx, DiscardLogActivity, &r, in)
	return r, err
}
