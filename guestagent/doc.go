// Package guestagent is the agent inside each instance: a Temporal worker on the instance's
// task queue (guest.TaskQueue) that serves exactly the activities of the guest contract
// (package guest) and nothing else. Agent reads the instance's guest.Config from its server's
// user_data, learns the server's address, size and data volume as any VM does (the Server
// interface, server.go; package guestagent/machine implements it), starts the engine the
// server had, and serves until the server goes down.
//
// The agent does what every engine shares: activities.go (the engine's life, and the
// mapping of a driver's errors to the contract's error types), activities_users.go
// (databases, users, root), activities_replication.go, backup.go (streaming backups and
// restores between the engine and Swift). The engine itself sits behind the Driver
// interface (driver.go), one package per engine: guestagent/postgres.
package guestagent
