import { paramsObject } from './report-log';

describe('paramsObject', () => {
  it('keeps __proto__ and constructor as own data keys of a prototype-less object', () => {
    const prototypeKeys = Reflect.ownKeys(Object.prototype);
    const params = paramsObject([
      ['__proto__', 'x'],
      ['constructor', 'y'],
      ['a', '1'],
      ['a', '2'],
    ]);
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(Reflect.ownKeys(params)).toEqual(['__proto__', 'constructor', 'a']);
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).toBe('x');
    expect(Object.getOwnPropertyDescriptor(params, 'constructor')?.value).toBe('y');
    expect(params.a).toEqual(['1', '2']);
    expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeys);
  });

  it('logs __proto__ as a plain key in the JSON line', () => {
    const line = JSON.stringify({ params: paramsObject([['__proto__', 'x']]) });
    expect(line).toBe('{"params":{"__proto__":"x"}}');
  });
});
