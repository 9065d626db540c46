// Package testproc is the shared harness of Waybill's integration tests: it finds the
// module root, builds the programs under test once, runs them as real subprocesses on
// free ports, waits on conditions with deadlines, kills every subprocess in t.Cleanup
// and copies their output into the test log when a test fails. It also sends the JSON
// HTTP requests the tests drive those programs with.
//
// It is a normal (non-test) package so that every integration test package can import
// it; it lives under internal/ so that nothing outside integration/ can.
package testproc
