# Schemathesis hooks for the contract test: bytes for the body tus
# appends take (application/offset+octet-stream), which schemathesis has
# no generator for.
from hypothesis import strategies as st
import schemathesis

schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=512))
