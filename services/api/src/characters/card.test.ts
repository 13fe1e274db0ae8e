import { CharacterCard, isGatewayError } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import { cardToCharacter } from './card.js';

const v2 = {
  spec: 'chara_card_v2',
  spec_version: '2.0',
  data: {
    name: 'Seraphina',
    description: '{{char}} is a guardian of the forest who heals travellers.',
    personality: 'gentle, protective',
    scenario: "{{user}} wakes up in {{char}}'s glade.",
    first_mes: '*{{char}} smiles* You are awake, {{user}}.',
    mes_example:
      '<START>\n{{user}}: Who are you?\n{{char}}: I am Seraphina.\n<START>\n{{user}}: Hi\n{{char}}: Hello.',
    system_prompt: 'Stay in character. {{original}}',
    creator_notes: 'not part of the persona',
    tags: ['fantasy'],
    extensions: { world: 'x' },
  },
};

describe('cardToCharacter', () => {
  it('maps a V2 card onto name, a labelled persona and the greeting', () => {
    const c = cardToCharacter(CharacterCard.parse(v2));
    expect(c.name).toBe('Seraphina');
    expect(c.greeting).toBe('*Seraphina smiles* You are awake, {{user}}.');
    expect(c.persona).toBe(
      [
        'Seraphina is a guardian of the forest who heals travellers.',
        'Personality:\ngentle, protective',
        "Scenario:\n{{user}} wakes up in Seraphina's glade.",
        'Instructions:\nStay in character.',
        'Example dialogue:\n{{user}}: Who are you?\nSeraphina: I am Seraphina.\n\n{{user}}: Hi\nSeraphina: Hello.',
      ].join('\n\n'),
    );
    expect(c.persona).not.toContain('not part of the persona');
    expect(c.voice_id).toBeNull();
  });

  it('maps a V1 flat card and leaves out empty sections', () => {
    const c = cardToCharacter(
      CharacterCard.parse({ name: '미나', description: '밝은 대학생', personality: '', first_mes: '안녕!' }),
    );
    expect(c).toEqual({ name: '미나', persona: '밝은 대학생', voice_id: null, greeting: '안녕!' });
  });

  it('drops the example dialogue before refusing a persona that is too long', () => {
    const long = CharacterCard.parse({ ...v2, data: { ...v2.data, mes_example: 'x'.repeat(20_000) } });
    expect(cardToCharacter(long).persona).not.toContain('Example dialogue');
    const tooLong = CharacterCard.parse({ ...v2, data: { ...v2.data, description: 'y'.repeat(20_000) } });
    expect(() => cardToCharacter(tooLong)).toThrow(/at most 16000/);
  });

  it('refuses a card without a name', () => {
    try {
      cardToCharacter(CharacterCard.parse({ spec: 'chara_card_v2', data: { description: 'nameless' } }));
      expect.unreachable();
    } catch (err) {
      expect(isGatewayError(err) && err.code).toBe('invalid_input');
    }
  });
});

describe('cardToCharacter on hostile input', () => {
  it('takes linear time on 200,000 characters of blank lines and <START> lines', () => {
    const blank = `x\n${'\n'.repeat(199_996)}y`;
    const starts = '<START>\n'.repeat(24_999);
    const spaces = `{{${' '.repeat(199_990)}`;
    for (const mes_example of [blank, starts, spaces]) {
      const t0 = performance.now();
      cardToCharacter(CharacterCard.parse({ name: 'n', description: 'd', mes_example }));
      expect(performance.now() - t0).toBeLessThan(200);
    }
  });

  it('still splits example chats on <START> lines, whatever their case and spacing', () => {
    const c = cardToCharacter(
      CharacterCard.parse({ name: 'n', description: 'd', mes_example: 'a\n  <start>  \nb\n<START>\n\nc' }),
    );
    expect(c.persona).toBe('d\n\nExample dialogue:\na\n\nb\n\nc');
  });
});
