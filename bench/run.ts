import { shaderNames } from '../src/gpu/shaders';
console.log(shaderNames());
