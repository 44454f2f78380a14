"""WebRTC data-channel transport."""
