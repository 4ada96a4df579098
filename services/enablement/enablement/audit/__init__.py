"""The enablement audit trail: identifications, rejections, locks (D-ENA-3, D-ENA-5, D-ENA-9)."""
