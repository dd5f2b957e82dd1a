package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/workflows"
)

// MgmtInstanceAction is the body of an operator's action on an instance: exactly one key.
type MgmtInstanceAction struct {
	Stop      *struct{}       `json:"stop,omitempty" doc:"Stop the database engine; the server keeps running (operating_status SHUTDOWN until a restart)."`
	Reboot    *struct{}       `json:"reboot,omitempty" doc:"Reboot the instance's server (Nova soft reboot): status REBOOT, then ACTIVE."`
	Rebuild   *RebuildRequest `json:"rebuild,omitempty" doc:"Rebuild the instance's server on a new image (rolling out a guest image), its volume and version kept: status REBUILD, then ACTIVE; on the old image again, with a fault, when the new one fails."`
	RetryTask *struct{}       `json:"retry-task,omitempty" doc:"Run the parked step of the running operation again."`
	SkipTask  *struct{}       `json:"skip-task,omitempty" doc:"Count the parked step of the running operation as done (an operator did it by hand)."`
	AbortTask *struct{}       `json:"abort-task,omitempty" doc:"Give the running operation up at its parked step: it cleans up and ends in ERROR."`
}

// MgmtInstanceActionRequest asks for an operator's action on any project's instance.
type MgmtInstanceActionRequest struct {
	InstancePath
	Body MgmtInstanceAction
}

// TaskView is the running operation of an instance, as its workflow answers the progress
// query.
type TaskView struct {
	Task           string      `json:"task" example:"BUILDING" doc:"The instance's task: BUILDING, DELETING, REBOOTING, RESIZING, NONE, ERROR."`
	WorkflowID     string      `json:"workflow_id,omitempty" example:"instance/4ab2.../create"`
	Operation      string      `json:"operation,omitempty" example:"create"`
	Step           string      `json:"step,omitempty" example:"create volume"`
	Done           []string    `json:"done,omitempty"`
	Error          string      `json:"error,omitempty"`
	NeedsAttention bool        `json:"needs_attention" doc:"A step is parked: it waits for retry-task, skip-task or abort-task."`
	Parked         *ParkedView `json:"parked,omitempty"`
	// Timings say where the operation's time went, step by step.
	Timings []StepTimingView `json:"timings,omitempty"`
}

// stepTimeFormat is RFC 3339 with milliseconds: a step's timing needs finer than Trove's
// seconds.
const stepTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// StepTimingView is when one step of the operation ran, by its workflow's clock.
type StepTimingView struct {
	Step    string `json:"step" example:"create volume"`
	Started string `json:"started" example:"2026-01-02T15:04:05.123Z" doc:"RFC 3339 with milliseconds."`
	Ended   string `json:"ended,omitempty" example:"2026-01-02T15:04:05.291Z" doc:"Empty while the step runs."`
	TookMS  int64  `json:"took_ms" example:"168" doc:"Milliseconds the step took; 0 while it runs."`
}

// ParkedView is a step that failed after its retries and waits for an operator.
type ParkedView struct {
	Step     string `json:"step" example:"create volume"`
	Error    string `json:"error"`
	Since    string `json:"since" example:"2026-01-02T15:04:05"`
	Deadline string `json:"deadline" example:"2026-01-02T16:04:05" doc:"When the operation aborts by itself if nobody answers."`
	Attempts int    `json:"attempts" doc:"How many times the step was parked."`
}

// TaskResponse is an instance's running operation.
type TaskResponse struct {
	Body struct {
		Task TaskView `json:"task"`
	}
}

func (s *Server) registerMgmtActions(g *huma.Group) {
	tags := []string{"Management"}
	huma.Register(g, huma.Operation{
		OperationID:   "mgmtInstanceAction",
		Method:        http.MethodPost,
		Path:          "/mgmt/instances/{id}/action",
		Summary:       "Act on any instance as an operator",
		Description:   "Admins only. stop (the engine), reboot (the server), and for an operation whose step is parked waiting for an operator: retry-task, skip-task, abort-task (the workflow's retry, skip and abort updates). 202; 422 when the instance is not in a state for it, no step is parked, or its operation has ended.",
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.mgmtInstanceAction)
	huma.Register(g, huma.Operation{
		OperationID: "mgmtShowInstanceTask",
		Method:      http.MethodGet,
		Path:        "/mgmt/instances/{id}/task",
		Summary:     "Show an instance's running operation",
		Description: "Admins only. The step the instance's operation runs, what it has done, and whether a step is parked waiting for an operator (the CofferNeedsAttention search attribute says the same in Temporal).",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, s.mgmtShowInstanceTask)
}

// taskWorkflowID is the workflow that runs the instance's task, or "" when none runs.
func taskWorkflowID(inst *coffer.Instance) string {
	switch inst.Task {
	case coffer.TaskBuilding:
		return workflows.CreateWorkflowID(inst.ID)
	case coffer.TaskDeleting:
		return workflows.DeleteWorkflowID(inst.ID)
	case coffer.TaskRebooting:
		return workflows.RestartWorkflowID(inst.ID)
	case coffer.TaskResizing:
		return workflows.ResizeWorkflowID(inst.ID)
	}
	return ""
}

func (s *Server) mgmtInstanceAction(ctx context.Context, in *MgmtInstanceActionRequest) (*struct{}, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	body := in.Body
	signals := map[string]bool{
		workflows.RetrySignal: body.RetryTask != nil,
		workflows.SkipSignal:  body.SkipTask != nil,
		workflows.AbortSignal: body.AbortTask != nil,
	}
	n := 0
	for _, set := range []bool{body.Stop != nil, body.Reboot != nil, body.Rebuild != nil, signals[workflows.RetrySignal], signals[workflows.SkipSignal], signals[workflows.AbortSignal]} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, badRequest("Invalid request: the body must hold exactly one action (stop, reboot, rebuild, retry-task, skip-task or abort-task), got %d.", n)
	}
	inst, err := s.getInstance(ctx, "", in.ID)
	if err != nil {
		return nil, err
	}
	log := s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID, "operator", principalFrom(ctx).UserName)
	switch {
	case body.Stop != nil:
		if err := canAct(inst); err != nil {
			return nil, err
		}
		if err := s.workflows.StartStop(ctx, workflows.StopInstanceInput{InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name}); err != nil {
			log.ErrorContext(ctx, "start stop workflow", "error", err)
			return nil, serviceUnavailable("The engine could not be stopped now: the workflow service is unavailable. Try again later.")
		}
		log.InfoContext(ctx, "operator stopped the engine")
		return nil, nil
	case body.Rebuild != nil:
		return nil, s.rebuildInstance(ctx, inst, body.Rebuild)
	case body.Reboot != nil:
		if inst.Task != coffer.TaskNone {
			return nil, unprocessableEntity("Instance %s is not ready (status %s): another operation is running on it.", inst.ID, inst.Status())
		}
		return nil, s.startTask(ctx, inst, coffer.TaskRebooting, workflows.RestartWorkflowID(inst.ID), func() error {
			return s.workflows.StartRestart(ctx, workflows.RestartInstanceInput{InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name, Reboot: true, Timeouts: s.timeouts()})
		})
	}
	var answer string
	for _, name := range []string{workflows.RetrySignal, workflows.SkipSignal, workflows.AbortSignal} {
		if signals[name] {
			answer = name
		}
	}
	workflowID := taskWorkflowID(inst)
	if workflowID == "" {
		return nil, unprocessableEntity("Instance %s has no operation running (task %s).", inst.ID, inst.Task)
	}
	said, err := s.workflows.Answer(ctx, workflowID, answer)
	switch {
	case errors.Is(err, workflows.ErrNotParked):
		return nil, unprocessableEntity("No step of instance %s's operation (%s) waits for an operator: it is rejected, the step is not parked.", inst.ID, workflowID)
	case errors.Is(err, workflows.ErrRunEnded):
		return nil, unprocessableEntity("The operation of instance %s (%s) has ended: there is no step to %s.", inst.ID, workflowID, answer)
	case err != nil:
		log.ErrorContext(ctx, "answer a parked step", "workflow_id", workflowID, "answer", answer, "error", err)
		return nil, serviceUnavailable("The answer could not be given now: the workflow service is unavailable. Try again later.")
	}
	log.InfoContext(ctx, "operator answered a parked step", "workflow_id", workflowID, "answer", answer, "workflow_said", said)
	return nil, nil
}

func (s *Server) mgmtShowInstanceTask(ctx context.Context, in *InstancePath) (*TaskResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	inst, err := s.getInstance(ctx, "", in.ID)
	if err != nil {
		return nil, err
	}
	out := &TaskResponse{}
	v := &out.Body.Task
	v.Task = string(inst.Task)
	v.WorkflowID = taskWorkflowID(inst)
	if v.WorkflowID == "" {
		return out, nil
	}
	p, err := s.workflows.Progress(ctx, v.WorkflowID)
	if err != nil {
		s.log.WarnContext(ctx, "query progress", "workflow_id", v.WorkflowID, "error", err)
		return out, nil
	}
	v.Operation, v.Step, v.Done, v.Error = p.Operation, p.Step, p.Done, p.Error
	for _, st := range p.Timings {
		view := StepTimingView{Step: st.Step, Started: st.Started.UTC().Format(stepTimeFormat), TookMS: st.Took().Milliseconds()}
		if !st.Ended.IsZero() {
			view.Ended = st.Ended.UTC().Format(stepTimeFormat)
		}
		v.Timings = append(v.Timings, view)
	}
	if p.Parked != nil {
		v.NeedsAttention = true
		v.Parked = &ParkedView{p.Parked.Step, p.Parked.Error, formatTime(p.Parked.Since), formatTime(p.Parked.Deadline), p.Parked.Attempts}
	}
	return out, nil
}
