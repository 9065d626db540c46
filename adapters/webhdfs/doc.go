// Package webhdfs is Waybill's HDFS sink: a routing.Sink that stores events as Avro
// object container files in HDFS through the WebHDFS REST API (plain net/http, no
// Hadoop client), exactly once across crashes. It writes the same files as the local
// lake; package avrofile describes them.
//
// # Layout
//
// Under Root/<rendered target>/ (e.g. /data/waybill/checkout.order_placed/dt=2024-03-01)
// every data file holds the events of one schema id and is named after the WAL
// sequence range it holds, with its manifest next to it:
//
//	part-{firstSeq:020d}-{lastSeq:020d}-s{schemaID}.avro
//	part-{firstSeq:020d}-{lastSeq:020d}-s{schemaID}.avro.manifest.json
//
// Names starting with '.' are not data: ".tmp-<final name>.<random>" are files being
// written. Hadoop tools (hdfs dfs, Hive, Spark) skip names starting with '.' or '_'.
// A rendered target must be a valid HDFS path (no ':' and components of at most 255
// bytes, HDFS's default limit), else its events fail permanently; the target
// template syntax already keeps ':' out. One batch becomes one file per stream (one
// target directory and schema id): the route's batching (count, bytes, max wait) is
// the roll policy.
//
// # Commit protocol
//
// Per stream, in sequence order, each file is committed with:
//
//  1. MKDIRS of the target directory (once per stream, or after a failure);
//  2. CREATE of <dir>/.tmp-<final>.<random> with overwrite=false, in WebHDFS's two
//     steps: a PUT without data to the NameNode, which answers 307 with a DataNode
//     URL (or 200 {"Location": ...}), then the PUT of the data there (201). HDFS
//     closes the file before answering, so it is complete and on dfs.replication
//     DataNodes (in their memory; on disk only with dfs.datanode.synconclose);
//  3. RENAME to <dir>/<final> with renameoptions=NONE — the NameNode's rename2, an
//     atomic metadata operation that fails with FileAlreadyExistsException instead of
//     replacing an existing name;
//  4. the manifest, written the same way under a temporary name and renamed with
//     renameoptions=OVERWRITE (it is derived from its data file; replacing is fine).
//
// A final name therefore only ever names a complete file. If it already exists, the
// temporary file is deleted and nothing is overwritten: with names derived from
// sequence ranges that is the same file committed before a crash (or before an
// answer was lost); it is read back (OPEN) and checked to hold the same events, and a
// file holding other events is logged at error level and left alone (the directory
// was changed behind Waybill's back; an operator must look). Either way its events
// count as committed.
//
// # Exactly once across crashes
//
// The sink keeps per stream the high-water mark avrofile describes: the largest last
// sequence number among the stream's data file names, read with LISTSTATUS on first
// use of the stream (and again after any failure), then tracked in memory; events at
// or below it are acknowledged without writing. avrofile's package documentation
// gives the argument. What it needs from HDFS is that a name appears only by an
// atomic rename of a complete file and never changes afterwards — rename2 without
// OVERWRITE gives both — and that LISTSTATUS on the NameNode sees every completed
// rename (it does: the active NameNode serves both; an Observer NameNode is not
// used). A RENAME whose answer is lost may or may not have happened: the stream's
// state is dropped, so the next write lists the directory and knows. The same
// LISTSTATUS removes this sink's stale temporary files of the stream (a crash between
// CREATE and RENAME) and writes the manifests of data files that lack one (a crash
// between RENAME and the manifest). The assumptions are avrofile's: one router process
// writes under Root at a time (HDFS has no lock the sink could take; run one router
// per root), one route per target directory, sequence numbers never re-used.
//
// Within one Write, nothing after a failed file of a stream is written: the stream's
// later events fail retryably, so a stream's files stay in sequence order and its
// mark never passes an event that was neither stored nor reported.
//
// # Errors
//
// Answers are classified by Hadoop's RemoteException name, not only by status (HDFS
// answers 403 for every IOException, retryable or not):
//
//   - retryable: no answer (connection refused or reset, timeout, the Write's
//     context), 408, 429, 5xx, StandbyException (after trying the other NameNodes),
//     RetriableException, SafeModeException, quota and lease exceptions, the generic
//     IOException ("could only be written to 0 DataNodes"), InvalidToken (an operator
//     renews the token), and 401/403/404 without a RemoteException (authentication or
//     a proxy); each is a *RemoteError, *TransportError or *ProtocolError;
//   - permanent for the events concerned: AccessControlException (the user may not
//     write there), InvalidPathException, ParentNotDirectoryException (a file where
//     a directory must be), PathComponentTooLongException, IllegalArgumentException
//     and 400; an event whose data is not a valid datum of its schema, and a schema id
//     the registry cannot resolve, fail alone;
//   - whole batch: an invalid target template or a latest-mode route (files store
//     every event) is permanent.
//
// A permanent refusal of a file's upload by the DataNode may be about its content
// rather than the directory. The sink then uploads an empty file to the same
// directory: if that is refused too, the refusal is the directory's and the file's
// events fail with it; if it is accepted, the file is split in halves and written
// again, until the refused events stand alone and fail by themselves (a few requests
// more per refused event, and only then).
//
// Every request is bounded by Timeout and by the Write's context, so Write answers
// within its deadline. No error, log line or String() carries the delegation token:
// errors name the operation and HDFS path, never the request URL.
//
// # NameNodes and authentication
//
// NameNodes lists one address, or the two (or more) of an HA pair: requests go to the
// one that answered last and move to the next on StandbyException or when it cannot be
// reached, at most once around the list per request. Authentication is simple
// (user.name) or a delegation token (delegation=, obtained and renewed outside
// Waybill). SPNEGO/Kerberos is not yet supported, nor are HttpFS-specific behaviours or
// choosing replication and block size.
//
// # TLS
//
// https:// NameNodes (dfs.http.policy HTTPS_ONLY) are verified against the system's
// roots, or with a tls section (package adapters/tlsopt) against the cluster's CA
// (ca_file), with a client certificate (cert_file, key_file) and server_name; the
// DataNodes the NameNode redirects to are reached with the same settings. A tls
// section with an http:// NameNode is refused by Validate.
package webhdfs
