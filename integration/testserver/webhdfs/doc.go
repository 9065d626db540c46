// Package webhdfs is a protocol-level TEST server, not HDFS: an in-memory namespace
// behind NameNode and DataNode HTTP listeners that speak enough of Hadoop's WebHDFS
// REST API (http://host:port/webhdfs/v1/<path>?op=...), with its status codes, JSON
// shapes and RemoteException error bodies, for Waybill's WebHDFS adapter and its
// conformance tests to run against, with fault injection a real cluster cannot offer.
// It is checked against an independent client, the npm package webhdfs, by its
// fidelity test (integration/clients/node/webhdfs_fidelity.js). There are no blocks,
// replicas, leases or permission checks: files are byte slices, and owner, group,
// permission, replication and block size are recorded and reported, not enforced.
//
// # What it serves
//
//	NameNode (URL, NameNodeURL):
//	PUT    op=CREATE             307 to the DataNode (or, with noredirect=true, 200
//	                             {"Location": ...}); overwrite, permission, replication,
//	                             blocksize passed on. Nothing is created at this step.
//	POST   op=APPEND             307 to the DataNode (the file must exist)
//	GET    op=OPEN               307 to the DataNode; offset, length
//	PUT    op=MKDIRS             {"boolean":true}; creates parents; permission
//	PUT    op=RENAME             destination; see below
//	DELETE op=DELETE             {"boolean":true|false}; recursive
//	GET    op=GETFILESTATUS      {"FileStatus":{...}}
//	GET    op=LISTSTATUS         {"FileStatuses":{"FileStatus":[...]}} sorted by name
//	GET    op=GETCONTENTSUMMARY  {"ContentSummary":{...}}
//	GET    op=GETHOMEDIRECTORY   {"Path":"/user/<user>"}
//
//	DataNode (at the URL a redirect names; it needs the namenoderpcaddress parameter):
//	PUT    op=CREATE             the data; 201 with Location hdfs://<namenode><path>
//	POST   op=APPEND             the data; 200
//	GET    op=OPEN               the bytes from offset, at most length
//
// Operation names are case-insensitive; an operation sent with the wrong HTTP method,
// an unknown one, or a parameter that does not parse is a 400 IllegalArgumentException
// worded as Hadoop's parameter parsers word it.
//
// # Semantics modelled
//
//   - Paths are normalized as Hadoop's Path does; a "." or ".." component or a ':' in
//     a name is a 400 InvalidPathException.
//   - CREATE checks and creates at the DataNode, as HDFS does: an existing file without
//     overwrite=true (false is the default) or a directory is FileAlreadyExistsException,
//     a file among the parents ParentNotDirectoryException; missing parents are
//     created. An upload the client abandons midway leaves the file with what arrived,
//     as lease recovery would.
//   - RENAME without renameoptions has FileSystem.rename's old semantics: it answers
//     {"boolean":false} instead of failing (missing source or destination parent,
//     destination an existing file, destination under the source) and moves the
//     source into the destination when that is an existing directory. With
//     renameoptions (NONE, OVERWRITE, as the NameNode's rename2) it is atomic and
//     fails with Hadoop's exceptions: FileAlreadyExistsException when the destination
//     exists (NONE) or is the source, FileNotFoundException for a missing source or
//     destination parent, ParentNotDirectoryException, IOException when OVERWRITE meets
//     a file and a directory or a non-empty directory; success is an empty 200.
//   - DELETE of a non-empty directory without recursive=true is
//     PathIsNotEmptyDirectoryException; of a missing path {"boolean":false}.
//   - Errors are {"RemoteException":{"exception":..., "javaClassName":...,
//     "message":...}} with Hadoop's ExceptionHandler status: 404 FileNotFoundException,
//     403 every other IOException (FileAlreadyExists, ParentNotDirectory,
//     AccessControl, Standby, Retriable, SafeMode, InvalidToken...) and
//     SecurityException, 400 IllegalArgument, InvalidPath and UnsupportedOperation,
//     500 anything else. Messages follow Hadoop's wording.
//   - Users: the user.name parameter (dr.who without one) owns what it creates and is
//     recorded. With Options.Tokens security is on: requests need delegation=<token>
//     (401 with WWW-Authenticate: Negotiate without one, 403 InvalidToken for an
//     unknown one, whose message never repeats the token), and redirects carry it on.
//
// # Faults
//
// Down closes every listener and open connection (clients get connection refused) and
// Up listens again on the same addresses, namespace intact. SetDelay delays every
// answer. FailNext answers the next n requests with a status and a RemoteException
// (429 and 503: RetriableException; others RuntimeException; FailNextWith names the
// exception). ResetNext closes the connection of the next n requests without an
// answer. FailWrites adds a Fault: writes whose path (or RENAME destination) contains
// a needle, or whose uploaded data does, fail with a given exception and status, or
// reset the connection, once, n times or always — optionally after performing the
// write, so the client loses the answer of a write that happened. SetStandby makes a
// NameNode answer 403 StandbyException, as the standby of an HA pair does. Requests
// records every request (listener, method, op, path, query, user.name, delegation,
// status, body size); ReadFile, WriteFile and List look at or set up the namespace
// directly.
package webhdfs
