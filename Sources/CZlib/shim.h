// zlib (Debian: zlib1g-dev): gzip for compressed corpora and HTTP responses.
#include <zlib.h>
