// Package e2e holds Coffer's end-to-end tests and benchmarks: every part real (embedded
// Temporal, the catalog's PostgreSQL, the devcloud, the API, the worker and one guest agent
// process per instance running PostgreSQL), driven through the Trove v1.0 API with
// gophercloud's openstack/db/v1 client, as tenants drive it.
package e2e
