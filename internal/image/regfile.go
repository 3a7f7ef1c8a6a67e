package image

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"banger/internal/progress"
	"banger/internal/sparse"
	"banger/internal/store"
)

// A registered image's files are copied into banger's storage when they
// are registered: after that banger reads only its own copy, under its own
// directories, and replacing an original (by another file, a symlink or a
// device) changes nothing. Images registered in place by an older banger
// still point at the originals; checkInPlace re-checks those at every use.

// follow says whether openRegular follows a symlink that is the last
// component of the path.
type follow bool

const (
	followLinks follow = true  // a path the user names now
	noFollow    follow = false // a path recorded earlier
)

// openRegular opens p for reading and refuses anything but a regular file.
// It never blocks on a FIFO nor takes a terminal as controlling terminal;
// with noFollow a symlink is refused too.
func openRegular(what, p string, links follow) (*os.File, os.FileInfo, error) {
	flags := os.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY
	if links == noFollow {
		flags |= unix.O_NOFOLLOW
	}
	f, err := os.OpenFile(p, flags, 0)
	if errors.Is(err, unix.ELOOP) && links == noFollow {
		return nil, nil, fmt.Errorf("%s %s: %w: it is a symlink now", what, p, ErrInvalid)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %w", what, ErrInvalid, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s %s: %w", what, p, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s %s: %w: not a regular file (%s)", what, p, ErrInvalid, fi.Mode().Type())
	}
	return f, fi, nil
}

// copyRegular copies the regular file src to the new file dst, leaving
// holes for all-zero blocks, and returns its size. The file copied is the
// one opened and checked, whatever src names meanwhile.
func copyRegular(ctx context.Context, what, src, dst string, links follow, p progress.Func) (int64, error) {
	in, fi, err := openRegular(what, src, links)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	var tick sparse.Progress
	if p != nil {
		tick = sparse.Progress(throttle("copy "+what, p))
	}
	if err := sparse.CopyFrom(ctx, in, dst, tick); err != nil {
		return 0, fmt.Errorf("copy %s: %w", what, err)
	}
	return fi.Size(), nil
}

// checkInPlace re-checks the files of an image, or of its kernel, that an
// older banger registered in place (not managed): each must still be a
// regular file and not a symlink, and the rootfs must have the size it had
// when it was registered. It cannot close the window between this check
// and the VMM opening the file: `banger image promote` does.
func checkInPlace(r Resolved) error {
	type file struct {
		what, path string
		size       int64 // 0: any
	}
	var files []file
	if !r.Image.Managed {
		files = append(files, file{"rootfs", r.Image.Rootfs, r.Image.SizeBytes})
	}
	if !r.Kernel.Managed {
		files = append(files, file{"kernel", r.Kernel.Path, 0})
		if r.Kernel.Initrd != "" {
			files = append(files, file{"initrd", r.Kernel.Initrd, 0})
		}
	}
	for _, f := range files {
		fh, fi, err := openRegular(f.what, f.path, noFollow)
		if err != nil {
			return inPlaceError(r.Image, err)
		}
		fh.Close()
		if f.size > 0 && fi.Size() != f.size {
			return inPlaceError(r.Image, fmt.Errorf("%s %s: %w: %d bytes, registered with %d", f.what, f.path, ErrInvalid, fi.Size(), f.size))
		}
	}
	return nil
}

func inPlaceError(img store.Image, err error) error {
	return fmt.Errorf("image %s uses files registered in place, and one is no longer what was registered: %w; restore it and run `banger image promote %s`, or delete the image and register it again",
		img.Name, err, img.Name)
}
