package api

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer/workflows"
)

// Workflows starts the workflows behind the API's operations; workflows.Starter decides how
// (IDs, start policies, the claim of the instance's task). A start that claims a task
// returns once the workflow claimed it (workflows/claim.go); the others return once
// Temporal has recorded the workflow.
type Workflows interface {
	Operations
	BackupWorkflows
	ReplicationWorkflows
	ConfigurationWorkflows

	// StartCreate starts the CreateInstance workflow of in.InstanceID.
	StartCreate(ctx context.Context, in workflows.CreateInstanceInput) error
	// StartDelete starts the DeleteInstance workflow of in.InstanceID and returns once it
	// claimed the instance's task; workflows.ErrInstanceBusy when another operation holds
	// it, a delete that runs already included.
	StartDelete(ctx context.Context, in workflows.DeleteInstanceInput) error
}

// TemporalWorkflows reaches Temporal for the API: workflows.Starter starts the workflows
// (it owns their IDs, start policies, task queue and search attributes), and the methods
// here ask running workflows for their progress and health, and call guests (Starter
// answers parked steps and says how ended workflows ended).
type TemporalWorkflows struct {
	workflows.Starter
}

var (
	_ Workflows = TemporalWorkflows{}
	_ Guest     = TemporalWorkflows{}
)

// Progress queries the workflow's progress.
func (t TemporalWorkflows) Progress(ctx context.Context, workflowID string) (workflows.Progress, error) {
	var p workflows.Progress
	v, err := t.Client.QueryWorkflow(ctx, workflowID, "", workflows.ProgressQuery)
	if err != nil {
		return p, fmt.Errorf("query progress of %s: %w", workflowID, err)
	}
	if err := v.Get(&p); err != nil {
		return p, fmt.Errorf("read progress of %s: %w", workflowID, err)
	}
	return p, nil
}
