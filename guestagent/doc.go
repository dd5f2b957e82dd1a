// Package guestagent is the agent inside each instance: a Temporal worker on the task queue
// guestagent.<instance-id> whose activities prepare the engine, manage databases and users
// and report health. One driver per engine sits behind the Driver interface
// (guestagent/postgres, ...).
package guestagent
