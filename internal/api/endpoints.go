package api

import (
	"net/url"
	"strings"
)

// Reply is the form of an endpoint's answer.
type Reply int

const (
	// ReplyJSON is one JSON document of the endpoint's response type.
	ReplyJSON Reply = iota
	// ReplyEvents is application/x-ndjson: progress and log events, ended
	// by one "result" event (carrying the response type) or one "error"
	// event. An operation that fails before its first event is answered
	// like any failed request: an Error with its status code.
	ReplyEvents
	// ReplyText is plain text copied as it is (a console log).
	ReplyText
	// ReplyUpgrade switches the connection to a raw byte stream: the
	// request carries "Connection: Upgrade" and "Upgrade: " +
	// ConnectProtocol, the daemon answers 101 Switching Protocols, and the
	// bytes that follow go both ways. A refused request gets an Error.
	ReplyUpgrade
)

// Endpoint is one method of the API: the HTTP method, the path pattern
// under /v1 (a net/http ServeMux pattern, with {wildcards}), the JSON body
// it takes (Req; Empty for none) and what it answers (Resp).
type Endpoint[Req, Resp any] struct {
	Method string
	Path   string
	Reply  Reply
}

// Pattern is the ServeMux pattern of e, e.g. "GET /v1/vms/{name}".
func (e Endpoint[Req, Resp]) Pattern() string { return e.Method + " /" + Version + e.Path }

// URL is e's path under /v1 with its wildcards replaced, in order, by
// args (path-escaped). Missing args leave the wildcard as it is.
func (e Endpoint[Req, Resp]) URL(args ...string) string {
	segs := strings.Split(e.Path, "/")
	for i, s := range segs {
		if len(args) == 0 {
			break
		}
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i], args = url.PathEscape(args[0]), args[1:]
		}
	}
	return "/" + Version + strings.Join(segs, "/")
}

// Empty is the request of an endpoint that takes no body.
type Empty struct{}

// Deleted is the answer of the DELETE endpoints.
type Deleted struct {
	Deleted string `json:"deleted"`
}

// Status is the answer of POST /v1/shutdown.
type Status struct {
	Status string `json:"status"`
}

// Text marks an endpoint answering plain text.
type Text struct{}

// Stream marks an endpoint answering with a raw byte stream (ReplyUpgrade).
type Stream struct{}

// EndpointTable lists every endpoint of the API. The daemon registers its
// handlers by these values and the Client calls them, so a path, a method
// and the types of a request and its answer are written once.
type EndpointTable struct {
	Ping     Endpoint[Empty, Ping]
	Shutdown Endpoint[Empty, Status]
	UILogin  Endpoint[Empty, UILogin] // a one-time login URL of the web UI

	ListVMs      Endpoint[Empty, []VM]
	CreateVM     Endpoint[CreateVM, VM]
	PruneVMs     Endpoint[Empty, PruneResult]
	GetVM        Endpoint[Empty, VM]
	DeleteVM     Endpoint[Empty, Deleted]
	SetVM        Endpoint[SetVM, VM]
	VMAction     Endpoint[Empty, VM] // {action}: start, stop, restart or kill
	SSHTarget    Endpoint[Empty, SSHTarget]
	Logs         Endpoint[Empty, Text]   // query offset=N: from byte N on
	Connect      Endpoint[Empty, Stream] // SSH to the guest, over its agent
	SetWorkspace Endpoint[Workspace, Workspace]
	Forward      Endpoint[ForwardRequest, Forward] // a "forward" event, then open until the VM stops
	ListForwards Endpoint[Empty, []Forward]
	Ports        Endpoint[Empty, []Port]
	Stats        Endpoint[Empty, Stats]

	ListImages      Endpoint[Empty, []Image]
	BuildImage      Endpoint[BuildImage, Image]
	GetImage        Endpoint[Empty, Image]
	DeleteImage     Endpoint[Empty, Deleted]
	PullImage       Endpoint[PullImage, Image]
	RegisterImage   Endpoint[RegisterImage, Image]
	PruneImageCache Endpoint[PruneCache, CacheReport]
	PromoteImage    Endpoint[Empty, Image]
	BundleImage     Endpoint[BundleRequest, Bundle]
	Catalog         Endpoint[Empty, Catalog]
	WarmImage       Endpoint[WarmImage, Snapshot]
	ListSnapshots   Endpoint[Empty, []Snapshot]
	DeleteSnapshot  Endpoint[Empty, Deleted] // {key}: a key or a unique prefix of one

	ListKernels  Endpoint[Empty, []Kernel]
	PullKernel   Endpoint[PullKernel, Kernel]
	ImportKernel Endpoint[ImportKernel, Kernel]
	GetKernel    Endpoint[Empty, Kernel]
	DeleteKernel Endpoint[Empty, Deleted]
	BundleKernel Endpoint[BundleRequest, Bundle]

	ListOps  Endpoint[Empty, []Operation] // query all=1: every record kept, not only the last hour's
	GetOp    Endpoint[Empty, Operation]
	WaitOp   Endpoint[Empty, Operation] // the operation's progress, then its record
	CancelOp Endpoint[Empty, Operation]
}

// Endpoints is the API. It is never changed.
var Endpoints = EndpointTable{
	Ping:     Endpoint[Empty, Ping]{"GET", "/ping", ReplyJSON},
	Shutdown: Endpoint[Empty, Status]{"POST", "/shutdown", ReplyJSON},
	UILogin:  Endpoint[Empty, UILogin]{"POST", "/ui/login", ReplyJSON},

	ListVMs:      Endpoint[Empty, []VM]{"GET", "/vms", ReplyJSON},
	CreateVM:     Endpoint[CreateVM, VM]{"POST", "/vms", ReplyEvents},
	PruneVMs:     Endpoint[Empty, PruneResult]{"POST", "/vms/prune", ReplyJSON},
	GetVM:        Endpoint[Empty, VM]{"GET", "/vms/{name}", ReplyJSON},
	DeleteVM:     Endpoint[Empty, Deleted]{"DELETE", "/vms/{name}", ReplyJSON},
	SetVM:        Endpoint[SetVM, VM]{"PATCH", "/vms/{name}", ReplyJSON},
	VMAction:     Endpoint[Empty, VM]{"POST", "/vms/{name}/{action}", ReplyEvents},
	SSHTarget:    Endpoint[Empty, SSHTarget]{"GET", "/vms/{name}/ssh", ReplyJSON},
	Logs:         Endpoint[Empty, Text]{"GET", "/vms/{name}/logs", ReplyText},
	Connect:      Endpoint[Empty, Stream]{"GET", "/vms/{name}/connect", ReplyUpgrade},
	SetWorkspace: Endpoint[Workspace, Workspace]{"POST", "/vms/{name}/workspace", ReplyJSON},
	Forward:      Endpoint[ForwardRequest, Forward]{"POST", "/vms/{name}/forwards", ReplyEvents},
	ListForwards: Endpoint[Empty, []Forward]{"GET", "/forwards", ReplyJSON},
	Ports:        Endpoint[Empty, []Port]{"GET", "/vms/{name}/ports", ReplyJSON},
	Stats:        Endpoint[Empty, Stats]{"GET", "/vms/{name}/stats", ReplyJSON},

	ListImages:      Endpoint[Empty, []Image]{"GET", "/images", ReplyJSON},
	BuildImage:      Endpoint[BuildImage, Image]{"POST", "/images/build", ReplyEvents},
	GetImage:        Endpoint[Empty, Image]{"GET", "/images/{name}", ReplyJSON},
	DeleteImage:     Endpoint[Empty, Deleted]{"DELETE", "/images/{name}", ReplyJSON},
	PullImage:       Endpoint[PullImage, Image]{"POST", "/images/pull", ReplyEvents},
	RegisterImage:   Endpoint[RegisterImage, Image]{"POST", "/images/register", ReplyJSON},
	PruneImageCache: Endpoint[PruneCache, CacheReport]{"POST", "/images/cache/prune", ReplyJSON},
	PromoteImage:    Endpoint[Empty, Image]{"POST", "/images/{name}/promote", ReplyEvents},
	BundleImage:     Endpoint[BundleRequest, Bundle]{"POST", "/images/{name}/bundle", ReplyJSON},
	Catalog:         Endpoint[Empty, Catalog]{"GET", "/catalog", ReplyJSON},
	WarmImage:       Endpoint[WarmImage, Snapshot]{"POST", "/images/{name}/warm", ReplyEvents},
	ListSnapshots:   Endpoint[Empty, []Snapshot]{"GET", "/snapshots", ReplyJSON},
	DeleteSnapshot:  Endpoint[Empty, Deleted]{"DELETE", "/snapshots/{key}", ReplyJSON},

	ListKernels:  Endpoint[Empty, []Kernel]{"GET", "/kernels", ReplyJSON},
	PullKernel:   Endpoint[PullKernel, Kernel]{"POST", "/kernels/pull", ReplyEvents},
	ImportKernel: Endpoint[ImportKernel, Kernel]{"POST", "/kernels/import", ReplyJSON},
	GetKernel:    Endpoint[Empty, Kernel]{"GET", "/kernels/{name}", ReplyJSON},
	DeleteKernel: Endpoint[Empty, Deleted]{"DELETE", "/kernels/{name}", ReplyJSON},
	BundleKernel: Endpoint[BundleRequest, Bundle]{"POST", "/kernels/{name}/bundle", ReplyJSON},

	ListOps:  Endpoint[Empty, []Operation]{"GET", "/ops", ReplyJSON},
	GetOp:    Endpoint[Empty, Operation]{"GET", "/ops/{id}", ReplyJSON},
	WaitOp:   Endpoint[Empty, Operation]{"POST", "/ops/{id}/wait", ReplyEvents},
	CancelOp: Endpoint[Empty, Operation]{"POST", "/ops/{id}/cancel", ReplyJSON},
}
