package api

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/workflows"
)

// Workflows starts the workflows behind the API's operations. Starting returns once
// Temporal has recorded the workflow; it does not wait for it to run.
type Workflows interface {
	Operations
	BackupWorkflows
	ReplicationWorkflows

	// StartCreate starts the CreateInstance workflow of in.InstanceID.
	StartCreate(ctx context.Context, in workflows.CreateInstanceInput) error
	// StartDelete starts the DeleteInstance workflow of in.InstanceID; a delete of the same
	// instance that is already running is joined, not started twice.
	StartDelete(ctx context.Context, in workflows.DeleteInstanceInput) error
}

// Workflow type names, as `coffer worker` registers them.
const (
	createInstanceWorkflow = "CreateInstance"
	deleteInstanceWorkflow = "DeleteInstance"
)

// TemporalWorkflows starts workflows on the control task queue through a Temporal client.
type TemporalWorkflows struct {
	Client client.Client
}

var _ Workflows = TemporalWorkflows{}

// StartCreate starts CreateInstance. Its ID derives from the instance, and a second start
// of the same ID is refused: an instance is created once.
func (t TemporalWorkflows) StartCreate(ctx context.Context, in workflows.CreateInstanceInput) error {
	opts := client.StartWorkflowOptions{
		ID:                       workflows.CreateWorkflowID(in.InstanceID),
		TaskQueue:                workflows.ControlTaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    searchAttributes(in.InstanceID, in.ProjectID, "create"),
	}
	if _, err := t.Client.ExecuteWorkflow(ctx, opts, createInstanceWorkflow, in); err != nil {
		return fmt.Errorf("start workflow %s: %w", opts.ID, err)
	}
	return nil
}

// StartDelete starts DeleteInstance. A running delete of the instance is joined; a finished
// one (a delete that failed and left the instance in ERROR) may be started again, since the
// catalog's task already admits one operation at a time.
func (t TemporalWorkflows) StartDelete(ctx context.Context, in workflows.DeleteInstanceInput) error {
	opts := client.StartWorkflowOptions{
		ID:                       workflows.DeleteWorkflowID(in.InstanceID),
		TaskQueue:                workflows.ControlTaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:    searchAttributes(in.InstanceID, in.ProjectID, "delete"),
	}
	if _, err := t.Client.ExecuteWorkflow(ctx, opts, deleteInstanceWorkflow, in); err != nil {
		return fmt.Errorf("start workflow %s: %w", opts.ID, err)
	}
	return nil
}

func searchAttributes(instanceID, projectID, operation string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		workflows.InstanceIDAttr.ValueSet(instanceID),
		workflows.ProjectIDAttr.ValueSet(projectID),
		workflows.OperationAttr.ValueSet(operation),
	)
}
