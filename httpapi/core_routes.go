package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) mountCore() {
	if s.health.log == nil {
		s.health.log = s.log
	}
	s.HandleRoot(Route{
		Method: http.MethodGet, Path: "/healthz", Tags: []string{"ops"},
		Summary:     "Health of every subsystem",
		Description: "200 with status ok when every subsystem is healthy, else 503 with status degraded.",
		Raw:         true, RawContentType: fiber.MIMEApplicationJSON, Response: HealthReport{},
		Handler: func(c *fiber.Ctx) error {
			rep := s.health.Check(c.UserContext())
			status := http.StatusOK
			if rep.Status != "ok" {
				status = http.StatusServiceUnavailable
			}
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Status(status).JSON(rep)
		},
	})
	prom := adaptor.HTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.HandleRoot(Route{
		Method: http.MethodGet, Path: "/metrics", Tags: []string{"ops"},
		Summary: "Prometheus metrics", Raw: true, RawContentType: "text/plain",
		Handler: prom,
	})
	s.Handle(Route{
		Method: http.MethodGet, Path: "/openapi.json", Tags: []string{"ops"},
		Summary: "This OpenAPI document", Raw: true, RawContentType: fiber.MIMEApplicationJSON,
		Handler: func(c *fiber.Ctx) error {
			b, err := s.OpenAPI()
			if err != nil {
				return err
			}
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(b)
		},
	})
}
