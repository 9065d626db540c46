// Package target parses and renders route target templates: the relative directory a
// file-based store (the local lake, WebHDFS) writes an event under.
//
// A template is a '/'-separated relative path whose segments mix literal text and
// placeholders:
//
//	{contract}  the event's contract (subject), made path-safe (see below)
//	{route}     the route's name, made path-safe the same way
//	{date}      event date, YYYY-MM-DD
//	{hour}      event hour, HH (00-23)
//	{yyyy}      event year, four digits
//	{MM}        event month, 01-12
//	{dd}        event day of month, 01-31
//	{yyyy.MM}   event year and month, YYYY.MM
//
// All time placeholders use the event time in UTC, so a partition never depends on the
// router's time zone. Example: "{contract}/dt={date}/hr={hour}" renders as
// "checkout.order_placed/dt=2024-03-01/hr=09".
//
// Parse rejects, with an error naming the offending placeholder or segment: an empty
// template; an absolute path (a leading '/'; targets are relative to the store's
// base path); empty segments ("a//b", a trailing '/'); "." and ".." segments and any
// literal segment starting with '.' (hidden names, which scans skip); unknown
// placeholders; unbalanced or nested braces and empty placeholders "{}"; and literal
// characters outside [A-Za-z0-9._=-] (so a template means the same on every file system
// and in HDFS, where ':' is not allowed in names).
//
// Rendering never produces an unsafe path, whatever the contract or route name: each
// character outside [A-Za-z0-9._-] becomes '_', and so does a leading '.', so a rendered
// name is never empty, ".", "..", hidden, or a path with extra separators. Distinct
// contract names can therefore render alike ("a/b" and "a_b"); the registry's subject
// rules make that rare, and stores that must tell them apart keep the contract inside
// the file as well.
package target
