package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
)

// Step names of UpdateAccess.
const (
	StepSetAccessRules = "set access rules"
	StepRecordAccess   = "record access"
)

// UpdateAccess changes who may reach an instance's engine (Trove's access update):
//
//  0. claim task: task UPDATING (claim.go); when another operation holds the instance the
//     workflow ends at once and changes nothing.
//  1. set access rules: the security group's ingress rules for the engine's port become
//     one per allowed CIDR (0.0.0.0/0 when none); new ones are added before old ones go.
//  2. record access: the catalog shows the new access.
//  3. finish: task NONE.
//
// A step that fails with an error a retry may mend is parked for an operator (retry, skip,
// abort). A step that fails otherwise, or is aborted, records a fault on the instance
// (task ERROR); the rules may then be partly changed, and a new update sets them whole.
func UpdateAccess(ctx workflow.Context, in UpdateAccessInput) error {
	op := operation{name: "update access", instanceID: in.InstanceID, projectID: in.ProjectID, task: coffer.TaskUpdating, timeouts: in.Timeouts}
	return op.run(ctx, func(_ *tracker, p *parking, _ *undo) error {
		call := callOptions(ctx)
		err := p.step(ctx, StepSetAccessRules, func() error {
			return workflow.ExecuteActivity(call, acts.SetAccessRules, activities.SetAccessRulesInput{
				InstanceID: in.InstanceID, SecurityGroupID: in.SecurityGroupID, Port: in.Port, AllowedCIDRs: in.Access.AllowedCIDRs,
			}).Get(ctx, nil)
		})
		if err != nil {
			return err
		}
		err = p.step(ctx, StepRecordAccess, func() error {
			return workflow.ExecuteActivity(call, acts.RecordAccess, activities.RecordAccessInput{
				InstanceID: in.InstanceID, IsPublic: in.Access.IsPublic, AllowedCIDRs: in.Access.AllowedCIDRs,
			}).Get(ctx, nil)
		})
		if err != nil {
			return err
		}
		return p.step(ctx, StepFinish, func() error {
			return workflow.ExecuteActivity(call, acts.FinishTask, activities.FinishTaskInput{InstanceID: in.InstanceID}).Get(ctx, nil)
		})
	})
}
