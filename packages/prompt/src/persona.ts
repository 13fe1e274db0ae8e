/** Optional role-play scenario, as in the original's `format_persona_for_roleplay(scenario=...)`. */
export interface Scenario {
  opponent?: string;
  situation?: string;
  background?: string;
}

export interface PersonaInput {
  characterName?: string | null;
  persona?: string | null;
  scenario?: Scenario | null;
  /** Accepted for parity with the callers; the greeting goes into the conversation (buildChatMessages). */
  greeting?: string | null;
}

const GENERIC_INTRO = '당신은 사용자와 역할극을 하는 AI 어시스턴트입니다.';

function clean(value: string | null | undefined): string {
  return typeof value === 'string' ? value.trim() : '';
}

function rules(name: string): string {
  const who = name.length > 0 ? `${name}의` : '맡은 캐릭터의';
  return [
    '[역할극 규칙]',
    `- 항상 ${who} 성격, 말투, 관점을 유지하고, AI나 언어 모델이라고 밝히지 마세요.`,
    '- 사용자가 쓴 언어로 답하세요.',
    '- 대화 상대의 말이나 행동, 생각을 대신 쓰지 마세요.',
    '- 답변은 짧고 자연스럽게, 보통 한두 문장에서 몇 문장으로 하세요.',
  ].join('\n');
}

/**
 * The role-play system prompt, as the original's
 * "당신은 {character_name}입니다.\n{persona}\n\n현재 상황: {situation}...": a Korean intro,
 * the persona, the scenario lines that are given (대화 상대 / 현재 상황 / 배경), then fixed rules.
 * Blank or missing fields are left out; "undefined" / "null" never appear.
 */
export function formatPersonaForRoleplay(input: PersonaInput): string {
  const name = clean(input.characterName);
  const persona = clean(input.persona);
  const opponent = clean(input.scenario?.opponent);
  const situation = clean(input.scenario?.situation);
  const background = clean(input.scenario?.background);

  const intro = name.length > 0 ? `당신은 ${name}입니다.` : GENERIC_INTRO;
  const head = persona.length > 0 ? `${intro}\n${persona}` : intro;
  const scenario = [
    opponent.length > 0 ? `대화 상대: ${opponent}` : '',
    situation.length > 0 ? `현재 상황: ${situation}` : '',
    background.length > 0 ? `배경: ${background}` : '',
  ].filter((line) => line.length > 0);

  const blocks = [head];
  if (scenario.length > 0) blocks.push(scenario.join('\n'));
  blocks.push(rules(name));
  return blocks.join('\n\n');
}
