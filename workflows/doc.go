// Package workflows holds one Temporal workflow per operation on an instance (create,
// delete, ...). Workflows are deterministic orchestration only: every side effect is an
// activity, on the control task queue (package activities) or on the instance's guest agent
// queue (package guestagent). Each workflow's doc comment lists its steps and what each
// failure does.
package workflows
