// The viewport's frame: the latest engine frame as a texture on a full-screen quad, with
// optional overlays, and a depth-based reprojection ("timewarp") of that frame to the
// camera the user has moved to since it was made.
//
// One program, two sections (moderngl-window style): VERTEX_SHADER and FRAGMENT_SHADER.
//
// Timewarp: with the frame's depth z(p) and the relative pose T (frame camera -> view
// camera), a frame pixel p shows the world point that the view sees at K T (z(p) K^-1 p).
// The vertex stage moves a grid of vertices (the corners of the latent tokens, with the
// depth the renderer gives each corner) to where that puts them in the view, a mesh warp;
// the fragment stage samples the frame at the vertex's original coordinates; the depth test
// keeps the nearest surface where the mesh folds over itself.

#if defined VERTEX_SHADER

in vec2 in_uv;              // frame texture coordinates of this grid vertex, [0, 1]^2
in float in_depth;          // frame camera z at this vertex, 0 where unknown (sky)

uniform mat3 K;              // frame intrinsics, pixels (OpenCV: +x right, +y down)
uniform mat3 K_inv;
uniform mat4 frame_to_view;  // frame camera -> view camera (OpenCV axes)
uniform vec2 size;           // frame size in pixels
uniform float far_depth;     // depth used where the frame has none (far away, sky)
uniform bool warp;           // false: draw the frame as it is

out vec2 v_uv;
out float v_depth;           // frame camera z, for the depth overlay

void main() {
    v_uv = in_uv;
    v_depth = in_depth;
    if (!warp) {
        gl_Position = vec4(in_uv.x * 2.0 - 1.0, 1.0 - in_uv.y * 2.0, 0.0, 1.0);
        return;
    }
    float z = in_depth > 0.0 ? in_depth : far_depth;
    vec3 pix = vec3(in_uv * size, 1.0);
    vec3 p_frame = z * (K_inv * pix);
    vec3 p_view = (frame_to_view * vec4(p_frame, 1.0)).xyz;
    if (p_view.z <= 1e-4) {
        // behind the view camera: out of the clip volume
        gl_Position = vec4(0.0, 0.0, -2.0, 1.0);
        return;
    }
    vec3 q = K * (p_view / p_view.z);
    vec2 ndc = vec2(q.x / size.x * 2.0 - 1.0, 1.0 - q.y / size.y * 2.0);
    // nearer surfaces win the depth test: map view depth to [0, 1) monotonically
    float d = p_view.z / (p_view.z + 1.0);
    gl_Position = vec4(ndc, d * 2.0 - 1.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D frame_tex; // RGB frame
uniform sampler2D holes_tex; // 1 where the frame's token was generated, 0 where read
uniform int overlay;         // 0 none, 1 generated tokens tinted, 2 depth
uniform vec3 hole_tint;
uniform float near_depth;    // depth shown brightest by the depth overlay

in vec2 v_uv;
in float v_depth;
out vec4 f_color;

void main() {
    vec3 rgb = texture(frame_tex, v_uv).rgb;
    if (overlay == 1) {
        float h = texture(holes_tex, v_uv).r;
        rgb = mix(rgb, hole_tint, 0.35 * h);
    } else if (overlay == 2) {
        // inverse depth, near bright: warm near, cool far; unknown (0) stays dark
        float near = v_depth > 0.0 ? clamp(near_depth / v_depth, 0.0, 1.0) : 0.0;
        vec3 ramp = mix(vec3(0.10, 0.15, 0.45), vec3(1.00, 0.85, 0.30), near);
        rgb = mix(rgb, ramp * (v_depth > 0.0 ? 1.0 : 0.1), 0.75);
    }
    f_color = vec4(rgb, 1.0);
}

#endif
