// Package activities holds Coffer's control-plane Temporal activities: one OpenStack call
// (through gophercloud) or one catalog change each, as methods on Activities, registered by
// `coffer worker` with w.RegisterActivity. Every activity that makes something finds it
// first, by name ("coffer-<instance-id>" for volumes, ports and security groups) or, for
// the server, which carries the instance's own name as in Trove, by the instance ID in its
// metadata, so a retry after a crash never makes it twice; every
// delete treats "already gone" as done. OpenStack errors a retry cannot mend (400, 403, 404,
// quota, a server or volume in ERROR) come back as non-retryable application errors with a
// type name; the rest (5xx, timeouts) are retried by the workflow's retry policy.
package activities
