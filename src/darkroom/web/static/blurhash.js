// A BlurHash decoder (https://blurha.sh, the algorithm of woltapp/blurhash), written for
// darkroom: a hash of 20–30 characters becomes a few pixels of blurred colour.

const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

function decode83(text) {
  let value = 0;
  for (const char of text) {
    const digit = DIGITS.indexOf(char);
    if (digit < 0) throw new Error(`not a blurhash character: ${char}`);
    value = value * 83 + digit;
  }
  return value;
}

function toLinear(value) {
  const v = value / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

function toSrgb(value) {
  const v = Math.max(0, Math.min(1, value));
  return Math.round((v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055) * 255);
}

const signedSquare = (value) => Math.sign(value) * value * value;

/** RGBA pixels (width × height × 4) for `hash`; throws on a malformed hash. */
export function decode(hash, width, height, punch = 1) {
  if (typeof hash !== "string" || hash.length < 6) throw new Error("blurhash too short");
  const size = decode83(hash[0]);
  const nx = (size % 9) + 1;
  const ny = Math.floor(size / 9) + 1;
  if (hash.length !== 4 + 2 * nx * ny) throw new Error("blurhash of the wrong length");
  const scale = ((decode83(hash[1]) + 1) / 166) * punch;
  const dc = decode83(hash.slice(2, 6));
  const colours = [[toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]];
  for (let i = 1; i < nx * ny; i++) {
    const ac = decode83(hash.slice(4 + i * 2, 6 + i * 2));
    colours.push([
      signedSquare((Math.floor(ac / 361) - 9) / 9) * scale,
      signedSquare(((Math.floor(ac / 19) % 19) - 9) / 9) * scale,
      signedSquare(((ac % 19) - 9) / 9) * scale,
    ]);
  }
  const pixels = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0; j < ny; j++) {
        const cy = Math.cos((Math.PI * y * j) / height);
        for (let i = 0; i < nx; i++) {
          const basis = Math.cos((Math.PI * x * i) / width) * cy;
          const colour = colours[i + j * nx];
          r += colour[0] * basis;
          g += colour[1] * basis;
          b += colour[2] * basis;
        }
      }
      const at = 4 * (x + y * width);
      pixels[at] = toSrgb(r);
      pixels[at + 1] = toSrgb(g);
      pixels[at + 2] = toSrgb(b);
      pixels[at + 3] = 255;
    }
  }
  return pixels;
}

/** A small canvas painted with `hash` at the photo's aspect ratio, or null if it is bad. */
export function placeholder(hash, aspect) {
  const width = aspect >= 1 ? 32 : Math.max(4, Math.round(32 * aspect));
  const height = aspect >= 1 ? Math.max(4, Math.round(32 / aspect)) : 32;
  let pixels;
  try {
    pixels = decode(hash, width, height);
  } catch {
    return null;
  }
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.className = "placeholder";
  canvas.setAttribute("aria-hidden", "true");
  canvas.getContext("2d").putImageData(new ImageData(pixels, width, height), 0, 0);
  return canvas;
}
