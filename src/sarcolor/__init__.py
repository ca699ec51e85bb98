"""sarcolor: colorize Sentinel-1 SAR into Sentinel-2-like RGB with a pix2pix conditional GAN.

Package layout (arrows point one way; the library never imports the CLI)::

    cli ──► demo ──► training ──► models, data, checkpoint, figures
                 └─► evaluation ──► inference ──► models, data, checkpoint

See the README's "Design" section.
"""

from sarcolor.errors import SarcolorError

__version__ = "0.1.0"
__all__ = ["SarcolorError", "__version__"]
