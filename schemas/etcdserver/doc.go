// Package etcdserver runs an embedded single-member etcd for the registry's default
// mode (and for tests): the same server code as a real etcd cluster, kept in a data
// directory, serving clients on a TCP address so that routers can watch it.
package etcdserver
