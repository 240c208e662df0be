"""Rainstorm hazard: observed accumulations now; nowcasting and NWP blending later."""
