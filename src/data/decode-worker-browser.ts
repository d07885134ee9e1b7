/**
 * One decode worker of the pool (./decode-pool-browser.ts): decodes an image (createImageBitmap +
 * OffscreenCanvas, src/data/decode-browser.ts) and, when asked, preprocesses it for the model
 * (src/data/preprocess.ts), off the engine worker's thread.
 *   in:  { id, bytes: ArrayBuffer (transferred), name, pp: Preprocessor | null }
 *   out: { id, px: Float32Array [3, h, w] (transferred), h, w }  (pp given)
 *        { id }                                                   (pp null: the image decodes)
 *        { id, error: message naming the file }
 */
import { decodeImageBytes } from './decode-browser';
import { outputSize, preprocess, type Preprocessor } from './preprocess';

export interface DecodeRequest {
  id: number;
  bytes: ArrayBuffer;
  name: string;
  pp: Preprocessor | null;
}

export type DecodeReply = { id: number; px?: Float32Array; h?: number; w?: number; error?: string };

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<DecodeRequest>) => void) | null;
  postMessage(m: DecodeReply, t?: Transferable[]): void;
};

// eslint-disable-next-line @typescript-eslint/no-misused-promises -- every failure is caught and posted back as the reply's error
scope.onmessage = async (e) => {
  const { id, bytes, name, pp } = e.data;
  try {
    const img = await decodeImageBytes(new Uint8Array(bytes), name);
    if (!pp) return scope.postMessage({ id });
    const { height, width } = outputSize(pp, img.width, img.height);
    const px = preprocess(img, pp);
    scope.postMessage({ id, px, h: height, w: width }, [px.buffer]);
  } catch (err) {
    scope.postMessage({ id, error: (err as Error).message ?? String(err) });
  }
};
