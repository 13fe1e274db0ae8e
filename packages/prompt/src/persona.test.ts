import { describe, expect, it } from 'vitest';
import { formatPersonaForRoleplay } from './persona.js';

describe('formatPersonaForRoleplay', () => {
  it('renders name, persona and every scenario field, then the rules', () => {
    const text = formatPersonaForRoleplay({
      characterName: ' 민지 ',
      persona: '  밝고 수다스러운 대학생.\n고양이를 좋아한다. ',
      scenario: {
        opponent: '같은 과 선배',
        situation: '도서관에서 우연히 만남',
        background: '서울의 대학교, 시험 기간',
      },
    });
    expect(text.startsWith('당신은 민지입니다.\n밝고 수다스러운 대학생.\n고양이를 좋아한다.\n\n')).toBe(true);
    expect(text).toContain(
      '대화 상대: 같은 과 선배\n현재 상황: 도서관에서 우연히 만남\n배경: 서울의 대학교, 시험 기간',
    );
    expect(text).toContain('[역할극 규칙]');
    expect(text).toContain('민지의 성격');
    expect(text).toContain('사용자가 쓴 언어로 답하세요');
    expect(text).toContain('대신 쓰지 마세요');
    expect(text).toContain('짧고 자연스럽게');
    expect(text).not.toMatch(/undefined|null/);
    expect(text).toBe(text.trim());
  });

  it('includes only the scenario fields that are given', () => {
    const text = formatPersonaForRoleplay({
      characterName: '하루',
      persona: '',
      scenario: { situation: '비 오는 저녁', opponent: '   ' },
    });
    expect(text).toContain('당신은 하루입니다.\n\n현재 상황: 비 오는 저녁\n\n[역할극 규칙]');
    expect(text).not.toContain('대화 상대:');
    expect(text).not.toContain('배경:');
  });

  it('falls back to a generic role-play assistant without a name', () => {
    const text = formatPersonaForRoleplay({
      characterName: null,
      persona: null,
      scenario: null,
      greeting: null,
    });
    expect(text.startsWith('당신은 사용자와 역할극을 하는 AI 어시스턴트입니다.\n\n[역할극 규칙]')).toBe(true);
    expect(text).toContain('맡은 캐릭터의');
    expect(text).not.toMatch(/undefined|null|현재 상황:|대화 상대:|배경:/);
  });

  it('keeps a persona without a name', () => {
    const text = formatPersonaForRoleplay({
      persona: '무뚝뚝한 기사',
      scenario: { background: '중세 왕국' },
    });
    expect(text).toContain('AI 어시스턴트입니다.\n무뚝뚝한 기사\n\n배경: 중세 왕국\n\n');
  });

  it('works with an empty input', () => {
    expect(formatPersonaForRoleplay({})).toBe(formatPersonaForRoleplay({ scenario: {} }));
  });
});
