-- Which workflow holds an instance's task. Every claim records it (a create's record, a
-- day-2 operation's task, a replication operation's task on each member of the group), so
-- that a claim retried by the workflow that made it finds the task its own (claimed)
-- while another workflow's claim finds it busy: two promotes of different replicas set
-- the same PROMOTING task on the same members, and only the workflow ID tells them apart.
ALTER TABLE instances
    -- The Temporal workflow ID of the operation that holds the task; NULL when no
    -- operation holds one (task NONE or ERROR).
    ADD COLUMN task_workflow_id text;

-- A task that ends (NONE) or fails (ERROR) is no workflow's any more, whichever statement
-- ends it (FinishTask, SetTask, RecordFault, Regroup, ResetStatus, ...).
CREATE FUNCTION instances_task_ended() RETURNS trigger AS $$
BEGIN
    IF NEW.task IN ('NONE', 'ERROR') THEN
        NEW.task_workflow_id := NULL;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER instances_task_ended
    BEFORE INSERT OR UPDATE OF task, task_workflow_id ON instances
    FOR EACH ROW EXECUTE FUNCTION instances_task_ended();

---- create above / drop below ----

DROP TRIGGER instances_task_ended ON instances;
DROP FUNCTION instances_task_ended();
ALTER TABLE instances DROP COLUMN task_workflow_id;
