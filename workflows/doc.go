// Package workflows holds one Temporal workflow per operation on an instance (create,
// delete, ...). Workflows are deterministic orchestration only: every side effect is an
// activity, on the control task queue (package activities) or, through guest.Client, on the
// instance's guest agent queue (package guest holds that contract). Each workflow's doc
// comment lists its steps and what each failure does.
//
// Every operation on an instance runs through one lifecycle, operation.run
// (operation.go): search attributes, the progress query (tracker), the claim of the
// instance's task (claim.go), parking for an operator (park.go), compensations (undo) and
// the fault. Starter (start.go) is the one place that starts workflows from outside: it
// owns their IDs, start policies, task queue and search attributes.
package workflows
