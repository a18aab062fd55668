import { BOS, EOS, encodeText } from "../tokenizer.js";
import type { ChatFormat } from "./chat-format.js";

const BOS_TEXT = "<|bos|>";
const EOS_TEXT = "<|eos|>";

/**
 * The built-in byte models' chat template: BOS, then each message as `role: content` closed by
 * EOS, then `assistant: ` when a generation prompt is asked for. The model generates an assistant
 * turn's content and its EOS, so sampling from a conversation stops at EOS.
 *
 *     <|bos|>system: Be brief.<|eos|>user: 1+2=<|eos|>assistant: 3<|eos|>
 */
const BYTE_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ message.role }}: {{ message.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";

/**
 * The byte models' chat format. Rendered text is UTF-8 bytes, except that the texts `<|bos|>`
 * and `<|eos|>` are read as BOS and EOS (as a Hugging Face tokenizer reads its special tokens'
 * text).
 */
export const BYTE_CHAT: ChatFormat = {
  template: BYTE_CHAT_TEMPLATE,
  specialTokens: { bos_token: BOS_TEXT, eos_token: EOS_TEXT },
  specialTexts: [BOS_TEXT, EOS_TEXT],
  encode(text) {
    const out: number[] = [];
    for (const [i, piece] of text.split(/(<\|bos\|>|<\|eos\|>)/).entries()) {
      if (i % 2 === 1) out.push(piece === BOS_TEXT ? BOS : EOS);
      else out.push(...encodeText(piece));
    }
    return out;
  },
};
