//! Checking and transforming uploaded media: type sniffing, name sanitizing, image limits, thumbnails. Written by issue #4.
