package api

import "context"

// WarmImage makes the snapshot new VMs of an image and shape restore from,
// streaming progress.
func (c *Client) WarmImage(ctx context.Context, name string, req WarmImage, onEvent func(Event)) (Snapshot, error) {
	return stream(ctx, c, Endpoints.WarmImage, req, onEvent, name)
}

// ListSnapshots lists the saved snapshots.
func (c *Client) ListSnapshots(ctx context.Context) ([]Snapshot, error) {
	return call(ctx, c, Endpoints.ListSnapshots, Empty{})
}

// DeleteSnapshot removes the snapshot whose key starts with key.
func (c *Client) DeleteSnapshot(ctx context.Context, key string) error {
	_, err := call(ctx, c, Endpoints.DeleteSnapshot, Empty{}, key)
	return err
}
