// QuillService: the routes of API.md, request validation, the model actor and its scheduler, metrics.
// It talks to QuillHTTP through request handlers and to QuillModel through native Swift values.

/// Namespace of the service module; the routes arrive with quill-server (issue: quill-server).
public enum QuillService {}
