package sessions

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteTarGz streams the tree under root to w as a gzip-compressed tar
// (the download of a snapshot). Paths are relative to root, folders and
// regular files keep their modes and times, symbolic links are stored as
// links and never followed, and other file types (sockets, devices) are
// left out. Memory stays bounded whatever the tree's size: files are copied
// through a fixed buffer. It stops with ctx's error when ctx ends (a client
// that went away).
func WriteTarGz(ctx context.Context, root string, w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	buf := make([]byte, 256<<10)
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.IsDir(), info.Mode().IsRegular():
		default:
			return nil
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		// O_NOFOLLOW: the entry was a regular file when listed; never let a
		// link swapped in since then lead outside the tree.
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		// Exactly the size in the header: a file that grew meanwhile is cut,
		// one that shrank fails the archive rather than corrupting it.
		if _, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
