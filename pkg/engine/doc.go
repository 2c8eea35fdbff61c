// Package engine runs a sync pass: for a set of secrets it reads each one
// (identical reads once, a bounded number in parallel, transient failures
// retried), renders all of its files, and hands them to a sink. The commands
// differ only in the sink they give it and in when they stop.
package engine
