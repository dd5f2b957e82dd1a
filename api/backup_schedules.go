package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// Scheduled backups are a Coffer extension (Trove had them only through Mistral): each
// schedule is a Temporal Schedule that runs the ScheduledBackup workflow, which backs the
// instance up and then deletes the schedule's oldest backups beyond the number to keep.

// Limits of a backup schedule.
const (
	maxKeep        = 1000
	minInterval    = 5 * time.Second
	maxScheduleLen = 100
)

// BackupScheduleCreate is a new schedule.
type BackupScheduleCreate struct {
	Name string `json:"name,omitempty" maxLength:"255" example:"nightly"`
	// Cron is the usual five fields; Temporal reads them in UTC.
	Cron string `json:"cron,omitempty" maxLength:"100" example:"0 3 * * *" doc:"A cron expression (minute hour day-of-month month day-of-week, UTC). Either cron or interval."`
	// Interval is mostly for tests: a Go duration such as "10s" or "6h".
	Interval string `json:"interval,omitempty" example:"6h" doc:"Instead of cron: a fixed interval, as a duration (\"90s\", \"6h\"), at least 5s."`
	Keep     int    `json:"keep" minimum:"1" maximum:"1000" example:"7" doc:"How many of the schedule's COMPLETED backups to keep; the oldest beyond are deleted after each success."`
}

// CreateBackupScheduleRequest asks for a schedule.
type CreateBackupScheduleRequest struct {
	InstancePath
	Body struct {
		BackupSchedule BackupScheduleCreate `json:"backup_schedule"`
	}
}

// BackupScheduleView is a schedule.
type BackupScheduleView struct {
	ID         string `json:"id" format:"uuid"`
	InstanceID string `json:"instance_id" format:"uuid"`
	Name       string `json:"name"`
	Cron       string `json:"cron,omitempty"`
	Interval   string `json:"interval,omitempty"`
	Keep       int    `json:"keep"`
	Created    string `json:"created" example:"2026-01-02T15:04:05"`
}

// BackupScheduleResponse is one schedule.
type BackupScheduleResponse struct {
	Body struct {
		BackupSchedule BackupScheduleView `json:"backup_schedule"`
	}
}

// BackupScheduleListResponse is an instance's schedules.
type BackupScheduleListResponse struct {
	Body struct {
		BackupSchedules []BackupScheduleView `json:"backup_schedules"`
	}
}

// BackupSchedulePath names one schedule of an instance.
type BackupSchedulePath struct {
	InstancePath
	ScheduleID string `path:"schedule_id" doc:"The schedule ID."`
}

func (s *Server) registerBackupSchedules(g *huma.Group) {
	tags := []string{"Backup schedules"}
	huma.Register(g, huma.Operation{
		OperationID: "listBackupSchedules",
		Method:      http.MethodGet,
		Path:        "/instances/{id}/backup-schedules",
		Summary:     "List an instance's backup schedules",
		Description: "Coffer extension. Each schedule backs the instance up on its cron expression or interval and keeps its newest backups.",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, s.listBackupSchedules)
	huma.Register(g, huma.Operation{
		OperationID:   "createBackupSchedule",
		Method:        http.MethodPost,
		Path:          "/instances/{id}/backup-schedules",
		Summary:       "Schedule backups of an instance",
		Description:   "Coffer extension. Makes a Temporal Schedule (backup-schedule/<instance>/<id>) that runs the ScheduledBackup workflow: a backup, then the schedule's oldest COMPLETED backups beyond keep are deleted. A run that finds the instance busy is skipped.",
		Tags:          tags,
		DefaultStatus: http.StatusOK,
		Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.createBackupSchedule)
	huma.Register(g, huma.Operation{
		OperationID:   "deleteBackupSchedule",
		Method:        http.MethodDelete,
		Path:          "/instances/{id}/backup-schedules/{schedule_id}",
		Summary:       "Delete a backup schedule",
		Description:   "Coffer extension. Stops the schedule; its backups stay.",
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound},
	}, s.deleteBackupSchedule)
}

func (s *Server) listBackupSchedules(ctx context.Context, in *InstancePath) (*BackupScheduleListResponse, error) {
	inst, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	list, err := s.catalog.ListBackupSchedules(ctx, inst.ProjectID, inst.ID)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Instance "+inst.ID)
	}
	out := &BackupScheduleListResponse{}
	out.Body.BackupSchedules = []BackupScheduleView{}
	for _, sc := range list {
		out.Body.BackupSchedules = append(out.Body.BackupSchedules, scheduleView(sc))
	}
	return out, nil
}

func (s *Server) createBackupSchedule(ctx context.Context, in *CreateBackupScheduleRequest) (*BackupScheduleResponse, error) {
	req := in.Body.BackupSchedule
	sc := &coffer.BackupSchedule{ID: uuid.NewString(), ProjectID: in.ProjectID, Name: req.Name, Keep: req.Keep}
	switch {
	case req.Keep < 1 || req.Keep > maxKeep:
		return nil, badRequest("Invalid request: backup_schedule.keep: %d is not between 1 and %d.", req.Keep, maxKeep)
	case (req.Cron == "") == (req.Interval == ""):
		return nil, badRequest("Invalid request: backup_schedule: give either cron or interval.")
	case req.Cron != "":
		if err := checkCron(req.Cron); err != nil {
			return nil, err
		}
		sc.Cron = req.Cron
	default:
		d, err := time.ParseDuration(req.Interval)
		if err != nil || d < minInterval {
			return nil, badRequest("Invalid request: backup_schedule.interval: %q is not a duration of at least %s.", req.Interval, minInterval)
		}
		sc.Interval = d.Round(time.Second)
	}
	if err := coffer.ValidText(req.Name, coffer.MaxNameLength); err != nil {
		return nil, badRequest("Invalid request: backup_schedule.name: %v.", err)
	}
	inst, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	existing, err := s.catalog.ListBackupSchedules(ctx, inst.ProjectID, inst.ID)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Instance "+inst.ID)
	}
	if len(existing) >= maxScheduleLen {
		return nil, unprocessableEntity("Instance %s has %d backup schedules already.", inst.ID, len(existing))
	}
	sc.InstanceID, sc.ProjectID = inst.ID, inst.ProjectID
	log := s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID, "schedule_id", sc.ID)
	if err := s.catalog.CreateBackupSchedule(ctx, sc); err != nil {
		return nil, faultFor(ctx, log, err, "Instance "+inst.ID)
	}
	if err := s.workflows.CreateBackupSchedule(ctx, *sc); err != nil {
		log.ErrorContext(ctx, "create temporal schedule", "error", err)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if derr := s.catalog.DeleteBackupSchedule(dctx, inst.ProjectID, inst.ID, sc.ID); derr != nil {
			log.ErrorContext(ctx, "remove schedule that could not be made", "error", derr)
		}
		if strings.Contains(strings.ToLower(err.Error()), "invalid") {
			return nil, badRequest("Invalid request: backup_schedule: %s.", scheduleError(err))
		}
		return nil, serviceUnavailable("The schedule could not be made now: the workflow service is unavailable. Try again later.")
	}
	log.InfoContext(ctx, "backup schedule created", "cron", sc.Cron, "interval", sc.Interval, "keep", sc.Keep)
	out := &BackupScheduleResponse{}
	out.Body.BackupSchedule = scheduleView(sc)
	return out, nil
}

// scheduleError is the part of Temporal's refusal worth showing.
func scheduleError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return strings.TrimSuffix(msg, ".")
}

func (s *Server) deleteBackupSchedule(ctx context.Context, in *BackupSchedulePath) (*struct{}, error) {
	inst, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	list, err := s.catalog.ListBackupSchedules(ctx, inst.ProjectID, inst.ID)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Instance "+inst.ID)
	}
	found := false
	for _, sc := range list {
		found = found || sc.ID == in.ScheduleID
	}
	if !found {
		return nil, itemNotFound("Backup schedule %s could not be found.", in.ScheduleID)
	}
	if err := s.workflows.DeleteBackupSchedule(ctx, inst.ID, in.ScheduleID); err != nil {
		s.log.ErrorContext(ctx, "delete temporal schedule", "schedule_id", in.ScheduleID, "error", err)
		return nil, serviceUnavailable("The schedule could not be deleted now: the workflow service is unavailable. Try again later.")
	}
	err = s.catalog.DeleteBackupSchedule(ctx, inst.ProjectID, inst.ID, in.ScheduleID)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return nil, faultFor(ctx, s.log, err, "Backup schedule "+in.ScheduleID)
	}
	return nil, nil
}

func scheduleView(sc *coffer.BackupSchedule) BackupScheduleView {
	v := BackupScheduleView{ID: sc.ID, InstanceID: sc.InstanceID, Name: sc.Name, Cron: sc.Cron, Keep: sc.Keep, Created: formatTime(sc.Created)}
	if sc.Interval > 0 {
		v.Interval = sc.Interval.String()
	}
	return v
}

// cronDescriptors are the @ forms a cron may take besides @every.
var cronDescriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// checkCron checks a schedule's cron: five fields, a descriptor, or "@every <duration>" of
// at least minInterval, as an interval must be.
func checkCron(cron string) error {
	if every, ok := strings.CutPrefix(cron, "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(every)); err != nil || d < minInterval {
			return badRequest("Invalid request: backup_schedule.cron: %q is not @every a duration of at least %s.", cron, minInterval)
		}
		return nil
	}
	if strings.HasPrefix(cron, "@") {
		if !slices.Contains(cronDescriptors, cron) {
			return badRequest("Invalid request: backup_schedule.cron: %q is not one of %s or @every <duration>.", cron, strings.Join(cronDescriptors, ", "))
		}
		return nil
	}
	if n := len(strings.Fields(cron)); n != 5 {
		return badRequest("Invalid request: backup_schedule.cron: %q has %d fields, want 5 (minute hour day-of-month month day-of-week).", cron, n)
	}
	if strings.ContainsFunc(cron, func(r rune) bool { return !strings.ContainsRune("0123456789*/,-? ", r) && !unicode.IsLetter(r) }) {
		return badRequest("Invalid request: backup_schedule.cron: %q holds characters a cron field cannot.", cron)
	}
	return nil
}
