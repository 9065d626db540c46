package webhdfs

import (
	"sort"
	"strings"
	"time"
)

// inode is a file or directory of the in-memory namespace.
type inode struct {
	dir         bool
	children    map[string]*inode // directories
	data        []byte            // files
	perm        uint16
	owner       string
	group       string
	mtime       int64 // milliseconds since 1970
	atime       int64
	id          int64
	replication int16
	blockSize   int64
}

const (
	defaultBlockSize   = 128 << 20
	defaultReplication = 3
	supergroup         = "supergroup"
)

// namespace is the file tree. The Server's mutex guards it.
type namespace struct {
	root   *inode
	nextID int64
	now    func() time.Time
}

func newNamespace() *namespace {
	ns := &namespace{nextID: 16385, now: time.Now}
	ns.root = ns.newInode(true, 0o755, "hdfs")
	return ns
}

func (ns *namespace) newInode(dir bool, perm uint16, owner string) *inode {
	ns.nextID++
	t := ns.now().UnixMilli()
	n := &inode{dir: dir, perm: perm, owner: owner, group: supergroup, mtime: t, atime: t, id: ns.nextID}
	if dir {
		n.children = map[string]*inode{}
	} else {
		n.replication, n.blockSize = defaultReplication, defaultBlockSize
	}
	return n
}

// cleanPath normalizes an HDFS path as Hadoop's Path does (duplicate and trailing
// slashes dropped) and checks its components as DFSUtil.isValidName does: no "." or
// "..", no ':'.
func cleanPath(p string) (string, []string, *remoteError) {
	if !strings.HasPrefix(p, "/") {
		return "", nil, remote("InvalidPathException", "Invalid path name %s", p)
	}
	var parts []string
	for _, c := range strings.Split(p, "/") {
		if c == "" {
			continue
		}
		if c == "." || c == ".." || strings.Contains(c, ":") {
			return "", nil, remote("InvalidPathException", "Invalid path name Invalid file name: %s", p)
		}
		parts = append(parts, c)
	}
	return "/" + strings.Join(parts, "/"), parts, nil
}

// lookup returns the inode at parts, or nil (also when a file is met before the end).
func (ns *namespace) lookup(parts []string) *inode {
	n := ns.root
	for _, c := range parts {
		if !n.dir {
			return nil
		}
		n = n.children[c]
		if n == nil {
			return nil
		}
	}
	return n
}

// parentOf returns the directory that holds (or would hold) the last component of
// parts, creating missing directories when create is set. It fails when a component
// is a file (ParentNotDirectoryException) or, without create, missing (nil, nil).
func (ns *namespace) parentOf(parts []string, create bool, user string) (*inode, *remoteError) {
	n := ns.root
	for i, c := range parts[:len(parts)-1] {
		next := n.children[c]
		if next == nil {
			if !create {
				return nil, nil
			}
			next = ns.newInode(true, 0o755, user)
			n.children[c] = next
			n.mtime = next.mtime
		}
		if !next.dir {
			return nil, remote("ParentNotDirectoryException", "Parent path is not a directory: /%s", strings.Join(parts[:i+1], "/"))
		}
		n = next
	}
	return n, nil
}

// mkdirs creates a directory and its parents (FileSystem.mkdirs).
func (ns *namespace) mkdirs(path string, parts []string, perm uint16, user string) *remoteError {
	if len(parts) == 0 {
		return nil
	}
	parent, err := ns.parentOf(parts, true, user)
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	if n := parent.children[name]; n != nil {
		if !n.dir {
			return remote("FileAlreadyExistsException", "Path is not a directory: %s", path)
		}
		return nil
	}
	d := ns.newInode(true, perm, user)
	parent.children[name] = d
	parent.mtime = d.mtime
	return nil
}

// create makes (or, with overwrite, replaces) a file holding data, creating missing
// parents as the DataNode's create does.
func (ns *namespace) create(path string, parts []string, data []byte, overwrite bool, perm uint16, replication int16, blockSize int64, user, client string) *remoteError {
	if len(parts) == 0 {
		return remote("FileAlreadyExistsException", "/ already exists as a directory")
	}
	parent, err := ns.parentOf(parts, true, user)
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	if old := parent.children[name]; old != nil {
		if old.dir {
			return remote("FileAlreadyExistsException", "%s already exists as a directory", path)
		}
		if !overwrite {
			return remote("FileAlreadyExistsException", "%s for client %s already exists", path, client)
		}
	}
	f := ns.newInode(false, perm, user)
	f.data = data
	if replication > 0 {
		f.replication = replication
	}
	if blockSize > 0 {
		f.blockSize = blockSize
	}
	parent.children[name] = f
	parent.mtime = f.mtime
	return nil
}

// file returns the file at parts for reading or appending.
func (ns *namespace) file(path string, parts []string, verb string) (*inode, *remoteError) {
	n := ns.lookup(parts)
	switch {
	case n == nil && verb == "append":
		return nil, remote("FileNotFoundException", "failed to append to non-existent file %s", path)
	case n == nil:
		return nil, remote("FileNotFoundException", "File %s not found.", path)
	case n.dir:
		return nil, remote("FileNotFoundException", "Path is not a file: %s", path)
	}
	return n, nil
}

// remove deletes a path (FileSystem.delete); false when there is nothing to delete.
func (ns *namespace) remove(path string, parts []string, recursive bool) (bool, *remoteError) {
	if len(parts) == 0 {
		return false, nil // the root is never deleted
	}
	parent := ns.lookup(parts[:len(parts)-1])
	if parent == nil || !parent.dir {
		return false, nil
	}
	name := parts[len(parts)-1]
	n := parent.children[name]
	if n == nil {
		return false, nil
	}
	if n.dir && len(n.children) > 0 && !recursive {
		return false, remote("PathIsNotEmptyDirectoryException", "`%s is non empty': Directory is not empty", path)
	}
	delete(parent.children, name)
	parent.mtime = ns.now().UnixMilli()
	return true, nil
}

func isUnder(p, dir string) bool { return dir == "/" || strings.HasPrefix(p, dir+"/") }

// rename is FileSystem.rename's old semantics: false instead of an error for a missing
// source, an existing file destination or a missing destination parent, and a move
// into the destination when it is an existing directory.
func (ns *namespace) rename(src string, sp []string, dst string, dp []string) bool {
	if len(sp) == 0 || ns.lookup(sp) == nil {
		return false
	}
	if src == dst {
		return true
	}
	if isUnder(dst, src) {
		return false
	}
	if d := ns.lookup(dp); d != nil {
		if !d.dir {
			return false
		}
		dp = append(append([]string(nil), dp...), sp[len(sp)-1])
		dst = "/" + strings.Join(dp, "/")
		if src == dst {
			return true
		}
		if ns.lookup(dp) != nil {
			return false
		}
	}
	if len(dp) == 0 {
		return false
	}
	dparent := ns.lookup(dp[:len(dp)-1])
	if dparent == nil || !dparent.dir {
		return false
	}
	ns.move(sp, dparent, dp[len(dp)-1])
	return true
}

// rename2 is FileContext.rename with options (the NameNode's rename2): atomic, and
// failing — never moving into a directory — when the destination exists, unless
// overwrite is set and the destination is a file or an empty directory of the same
// kind as the source.
func (ns *namespace) rename2(src string, sp []string, dst string, dp []string, overwrite bool) *remoteError {
	s := ns.lookup(sp)
	switch {
	case len(sp) == 0:
		return remote("IOException", "Rename source / is the root directory")
	case s == nil:
		return remote("FileNotFoundException", "rename source %s is not found.", src)
	case src == dst:
		return remote("FileAlreadyExistsException", "The source %s and destination %s are the same", src, dst)
	case isUnder(dst, src):
		return remote("IOException", "Rename destination %s is a directory or file under source %s", dst, src)
	case len(dp) == 0:
		return remote("IOException", "rename destination cannot be the root")
	}
	if d := ns.lookup(dp); d != nil {
		if !overwrite {
			return remote("FileAlreadyExistsException", "rename destination %s already exists.", dst)
		}
		switch {
		case d.dir && !s.dir:
			return remote("IOException", "Source %s and destination %s must both be files", src, dst)
		case !d.dir && s.dir:
			return remote("IOException", "Source %s and destination %s must both be directories", src, dst)
		case d.dir && len(d.children) > 0:
			return remote("IOException", "rename destination directory is not empty: %s", dst)
		}
	}
	parentPath := "/" + strings.Join(dp[:len(dp)-1], "/")
	dparent := ns.lookup(dp[:len(dp)-1])
	switch {
	case dparent == nil:
		return remote("FileNotFoundException", "rename destination parent %s not found.", parentPath)
	case !dparent.dir:
		return remote("ParentNotDirectoryException", "rename destination parent %s is a file.", parentPath)
	}
	ns.move(sp, dparent, dp[len(dp)-1])
	return nil
}

// move detaches the inode at sp and attaches it to dparent as name.
func (ns *namespace) move(sp []string, dparent *inode, name string) {
	sparent := ns.lookup(sp[:len(sp)-1])
	n := sparent.children[sp[len(sp)-1]]
	delete(sparent.children, sp[len(sp)-1])
	dparent.children[name] = n
	t := ns.now().UnixMilli()
	sparent.mtime, dparent.mtime = t, t
}

// FileStatus is Hadoop's JSON FileStatus object.
type FileStatus struct {
	AccessTime       int64  `json:"accessTime"`
	BlockSize        int64  `json:"blockSize"`
	ChildrenNum      int    `json:"childrenNum"`
	FileID           int64  `json:"fileId"`
	Group            string `json:"group"`
	Length           int64  `json:"length"`
	ModificationTime int64  `json:"modificationTime"`
	Owner            string `json:"owner"`
	PathSuffix       string `json:"pathSuffix"`
	Permission       string `json:"permission"`
	Replication      int16  `json:"replication"`
	StoragePolicy    int    `json:"storagePolicy"`
	Type             string `json:"type"`
}

func (n *inode) status(suffix string) FileStatus {
	st := FileStatus{
		AccessTime: n.atime, FileID: n.id, Group: n.group, ModificationTime: n.mtime, Owner: n.owner,
		PathSuffix: suffix, Permission: strings.TrimLeft(formatOctal(n.perm), "0"), Type: "FILE",
	}
	if st.Permission == "" {
		st.Permission = "0"
	}
	if n.dir {
		st.Type, st.ChildrenNum, st.AccessTime = "DIRECTORY", len(n.children), 0
	} else {
		st.Length, st.BlockSize, st.Replication = int64(len(n.data)), n.blockSize, n.replication
	}
	return st
}

func formatOctal(p uint16) string {
	const digits = "01234567"
	b := []byte{'0', '0', '0', '0'}
	for i := 3; i >= 0; i-- {
		b[i] = digits[p&7]
		p >>= 3
	}
	return string(b)
}

// list returns a directory's entries sorted by name (HDFS lists in byte order), or the
// file itself with an empty pathSuffix.
func (n *inode) list() []FileStatus {
	if !n.dir {
		return []FileStatus{n.status("")}
	}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]FileStatus, 0, len(names))
	for _, name := range names {
		out = append(out, n.children[name].status(name))
	}
	return out
}

// ContentSummary is Hadoop's JSON ContentSummary object.
type ContentSummary struct {
	DirectoryCount int64          `json:"directoryCount"`
	FileCount      int64          `json:"fileCount"`
	Length         int64          `json:"length"`
	Quota          int64          `json:"quota"`
	SpaceConsumed  int64          `json:"spaceConsumed"`
	SpaceQuota     int64          `json:"spaceQuota"`
	TypeQuota      map[string]any `json:"typeQuota"`
}

func (n *inode) summary() ContentSummary {
	cs := ContentSummary{Quota: -1, SpaceQuota: -1, TypeQuota: map[string]any{}}
	var walk func(*inode)
	walk = func(n *inode) {
		if !n.dir {
			cs.FileCount++
			cs.Length += int64(len(n.data))
			cs.SpaceConsumed += int64(len(n.data)) * int64(n.replication)
			return
		}
		cs.DirectoryCount++
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(n)
	return cs
}
