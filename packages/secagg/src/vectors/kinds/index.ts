// The suite's built-in vector kinds; each module registers itself on import.
import './x25519.js';
import './hkdf.js';
import './aead.js';
import './ed25519.js';
import './prg.js';
import './shamir.js';
import './quantize.js';
