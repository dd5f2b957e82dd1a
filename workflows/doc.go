// Package workflows holds one Temporal workflow per operation on an instance (create,
// delete, ...). Workflows are deterministic orchestration only: every side effect is an
// activity, on the control task queue (package activities) or, through guest.Client, on the
// instance's guest agent queue (package guest holds that contract). Each workflow's doc comment lists its steps and what each
// failure does.
package workflows
