package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/vmm"
)

// templateMetaName is the file that marks a template dir complete: it is
// written last, once the snapshot is saved.
const templateMetaName = "template.json"

// Template is one saved template, as template.json records it.
type Template struct {
	Key       string `json:"key"`
	ImageID   string `json:"image_id"`
	ImageName string `json:"image_name"`
	Backend   string `json:"backend"`
	TemplateShape
	// The machine the clones must repeat: kernel, initrd and command
	// line; the frozen disks they get overlays over (the root disk, the
	// template's work disk) and the number of NICs.
	Kernel  string     `json:"kernel"`
	Initrd  string     `json:"initrd,omitempty"`
	Cmdline string     `json:"cmdline"`
	Disks   []vmm.Disk `json:"disks"`
	NICs    int        `json:"nics"`
	// Created and BootSeconds say when and from how long a boot it was
	// made.
	Created     time.Time `json:"created"`
	BootSeconds float64   `json:"boot_seconds"`
	// Dir is where it lives (not stored).
	Dir string `json:"-"`
}

// Templates are the saved templates under Dir (<state_dir>/templates),
// one dir per key.
type Templates struct {
	Dir string
}

// Path is the dir of the template with key.
func (t Templates) Path(key string) string { return filepath.Join(t.Dir, key) }

// Get returns the complete template with key, or an error wrapping
// os.ErrNotExist when there is none.
func (t Templates) Get(key string) (Template, error) {
	dir := t.Path(key)
	b, err := os.ReadFile(filepath.Join(dir, templateMetaName))
	if err != nil {
		return Template{}, fmt.Errorf("template %s: %w", key, err)
	}
	var tp Template
	if err := json.Unmarshal(b, &tp); err != nil {
		return Template{}, fmt.Errorf("template %s: parse %s: %w", key, templateMetaName, err)
	}
	if tp.Key != key {
		return Template{}, fmt.Errorf("template %s: %s names key %q", key, templateMetaName, tp.Key)
	}
	tp.Dir = dir
	return tp, nil
}

// Save records tp as complete; its files must be in place.
func (t Templates) Save(tp Template) error {
	if err := atomicfile.WriteJSON(filepath.Join(t.Path(tp.Key), templateMetaName), tp, 0o600); err != nil {
		return fmt.Errorf("save template %s: %w", tp.Key, err)
	}
	return nil
}

// List returns the complete templates, newest first. Dirs without
// template.json (a template being made, or one whose making failed) are
// left out.
func (t Templates) List() ([]Template, error) {
	ents, err := os.ReadDir(t.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	var out []Template
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if tp, err := t.Get(e.Name()); err == nil {
			out = append(out, tp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// ForImage returns the templates of image id.
func (t Templates) ForImage(imageID string) ([]Template, error) {
	all, err := t.List()
	if err != nil {
		return nil, err
	}
	var out []Template
	for _, tp := range all {
		if tp.ImageID == imageID {
			out = append(out, tp)
		}
	}
	return out, nil
}

// Delete removes the template with key. A VM restored from it has overlays
// over its frozen disks: inUse are the files existing VMs' disks are over
// (their backing files), and a template that holds one is kept (the error
// says which).
func (t Templates) Delete(key string, inUse []string) error {
	dir := t.Path(key)
	for _, p := range inUse {
		if strings.HasPrefix(p, dir+string(filepath.Separator)) {
			return fmt.Errorf("template %s: %w: a VM disk is an overlay over its %s", key, ErrInUse, p)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete template %s: %w", key, err)
	}
	return nil
}

// DeleteImage removes every template of image id (image.Service calls it
// once the image, which no VM used, is deleted).
func (t Templates) DeleteImage(_ context.Context, imageID string) error {
	tps, err := t.ForImage(imageID)
	if err != nil {
		return err
	}
	for _, tp := range tps {
		if err := t.Delete(tp.Key, nil); err != nil {
			return err
		}
	}
	return nil
}
