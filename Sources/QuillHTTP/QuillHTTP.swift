// QuillHTTP: the HTTP/1.1 server on POSIX sockets and Dispatch (listener, connections, parser, responses, SSE).
// It hands complete requests to a handler and knows nothing of models.

/// Namespace of the HTTP module; the server arrives with quill-server (issue: quill-server).
public enum QuillHTTP {}
