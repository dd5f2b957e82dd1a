package workflows

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coffer-dbaas/coffer/catalog"
)

// sweepBatch is how many silences one statement of a sweep notes: a sweep goes on until
// a batch comes back short.
const sweepBatch = 500

// SilenceSweeper is the one sweep, for all instances, that turns a guest's silence into a
// workflow: every Every it notes in the catalog the instances whose last health report is
// older than Expiry and not noted yet, and starts GuestSilent for each (StartSilent). It
// runs in the worker role, beside the workers; no workflow runs per instance, so an idle
// instance costs Temporal nothing, and a silent one costs it one short run.
//
// The catalog's note makes the start happen once per silence, also with several workers
// sweeping at the same time (each silence is noted by one of them); a start that fails
// gives its note back, so the next sweep tries again. A worker that dies between the note
// and the start loses that one start: the API still shows the instance ERROR.
type SilenceSweeper struct {
	catalog *catalog.Store
	starter Starter
	expiry  time.Duration
	every   time.Duration
	log     *slog.Logger
}

// NewSilenceSweeper returns the sweep over store, starting workflows with c, for reports
// older than expiry, every every.
func NewSilenceSweeper(store *catalog.Store, c client.Client, expiry, every time.Duration, log *slog.Logger) (*SilenceSweeper, error) {
	switch {
	case store == nil || c == nil || log == nil:
		return nil, errors.New("silence sweeper: the catalog, a Temporal client and a logger are required")
	case expiry <= 0 || every <= 0:
		return nil, errors.New("silence sweeper: the expiry and the interval must be positive")
	}
	return &SilenceSweeper{catalog: store, starter: Starter{Client: c}, expiry: expiry, every: every, log: log}, nil
}

// Run sweeps every interval until ctx ends.
func (s *SilenceSweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("sweep silent guests", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep is one sweep: it notes the silences not noted yet and starts their workflows. It
// returns how many it started; an error when the catalog could not be read (a start that
// fails is logged, and its silence left for the next sweep).
func (s *SilenceSweeper) Sweep(ctx context.Context) (int, error) {
	started := 0
	for {
		silent, err := s.catalog.NoteSilentInstances(ctx, s.expiry, sweepBatch)
		if err != nil {
			return started, err
		}
		for _, si := range silent {
			err := s.starter.StartSilent(ctx, GuestSilentInput{
				InstanceID: si.ID, ProjectID: si.ProjectID, InstanceName: si.Name,
				LastReport: si.LastReport, NotedAt: si.NotedAt, Expiry: s.expiry,
			})
			if err != nil {
				s.log.Warn("could not start the workflow of a silent guest; the next sweep tries again",
					"instance_id", si.ID, "project_id", si.ProjectID, "workflow_id", SilentWorkflowID(si.ID), "error", err)
				release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				if err := s.catalog.ReleaseSilence(release, si.ID, si.NotedAt); err != nil {
					s.log.Error("release the silence of an instance", "instance_id", si.ID, "error", err)
				}
				cancel()
				continue
			}
			started++
			s.log.Info("guest silent: workflow started", "instance_id", si.ID, "project_id", si.ProjectID,
				"workflow_id", SilentWorkflowID(si.ID), "last_report", si.LastReport)
		}
		if len(silent) < sweepBatch {
			return started, nil
		}
	}
}
