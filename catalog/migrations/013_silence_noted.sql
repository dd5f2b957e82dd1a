-- A guest that goes silent starts one workflow, once (issue 19): the sweep notes when it
-- saw the silence, so that it starts no second one for the same silence; the guest's next
-- report clears the note. The partial index is what the sweep reads: instances not noted,
-- by the age of their last report.
ALTER TABLE instances ADD COLUMN silence_noted_at timestamptz;

CREATE INDEX instances_unnoted_report_idx ON instances (service_status_updated)
    WHERE silence_noted_at IS NULL;

---- create above / drop below ----

DROP INDEX instances_unnoted_report_idx;
ALTER TABLE instances DROP COLUMN silence_noted_at;
